/**
 * The KV time-to-live scheduler of the Continuum fork (Hanchenli/vllm-continuum,
 * `--scheduling-policy continuum`), as its public code does it (vllm/v1/core/sched/scheduler.py,
 * request_queue.py ContinuumRequestQueue, vllm/v1/core/estimate_with_func.py):
 *
 * - Fields: top-level `job_id` (the program), `is_last_step`, `this_func_call`,
 *   `last_func_call`. A request without `job_id` belongs to the one `None` job, as in the fork.
 * - At a call's finish the fork names its tool (tool-call-parse.ts: the client's field or the
 *   parsed output; `bashOnly` is the older parser). Every earlier pin of the same program is
 *   released; then, unless `is_last_step`, the TTL rule gives a pin length and, when > 0.01 s,
 *   the call's blocks stay referenced (pinned) until the deadline. Pinned blocks are in use, so
 *   they COUNT in kv_cache_usage_perc, and the program's next call hits them in the prefix cache.
 * - TTL rule `public` (FIXED_THRESHOLD_CONTINUUM = 2 s): pin `ttlS` when the tool's running
 *   average time (arrival of the program's next call minus the previous departure, per tool
 *   name; unknown = 0) is <= `thresholdS`, else no pin. `paper` (our reading of the paper's
 *   reload-cost versus queueing-delay rule, option): tau* = argmax over tau in {0} U S[f] of
 *   P(tau, f) * (T * eta + reload) - tau, with S[f] the tool's observed times, P the share of them
 *   <= tau, T the recent mean queueing delay, reload the modelled prefill time of the call's
 *   tokens; no history yet: the public rule.
 * - Expiry at each step start: a pin whose deadline has passed is released unless its program
 *   has a request waiting (unpin_requests_regular), on the engine's clock.
 * - Waiting order, program-level FCFS: a request of a pinned program first (earliest program
 *   first), else the request whose program arrived first; ties: queue order (preempted requests
 *   go to the front).
 * - Preemption (pop_running_request_based_on_last_step): with two or more running, the running
 *   request of the latest-arrived program that is not marked last step (else any); with one
 *   running, the pin with the latest deadline is released instead (no preemption counted).
 *   Where the fork raises (one running, no pins) we preempt the request itself, as vLLM does.
 * - Admission with nothing running (the fork's waiting loop: allocate_slots fails, `running` is
 *   empty and pins are held -> the same pop releases the pin with the latest deadline, then the
 *   step ends and the next schedule() tries again): `releaseForAdmission`, and the scheduler asks
 *   the queue again in the same step (the fork's next, empty-handed schedule() call takes no
 *   modelled time). Without it, pins of programs with a call waiting never expire
 *   (unpin_requests_regular) and a cache full of them admits nothing forever. A waiting call's
 *   own pinned prefix is already allocated (vLLM's allocate_slots counts only hit blocks with
 *   ref_cnt 0 as needing a free block), so it needs only its new tokens' blocks.
 * - Both pressure releases count in pinsReleasedUnderPressure (pins_released{reason="pressure"}).
 *   Unlike the fork, a victim already scheduled in the step gives its token budget back (as
 *   upstream vLLM's priority path does): a one-step difference.
 * - `schedulerTimestamps()`: the fork's Continuum_Recorder history (`scheduler_timestamps`
 *   JSON, written on SIGTERM): per job id, a list of one-key events in seconds.
 */
import type { BlockPool } from '../block-pool.js';
import type { EngineFinishReason, PolicyStats } from '../engine-api.js';
import type { SimRequest } from '../request.js';
import { resolveFuncCall, type ToolCallParser } from './tool-call-parse.js';
import type { SchedulingPolicy, WaitingQueue } from './types.js';

export interface ContinuumOptions {
  /** tool-call parser: 'hermes' (after the fork's 2026-01-13 change, default) or 'bashOnly' (before) */
  parser?: ToolCallParser;
  /** 'public' (the released code's fixed rule, default) or 'paper' */
  ttlRule?: 'public' | 'paper';
  /** pin length of the public rule, seconds (default 2) */
  ttlS?: number;
  /** pin only when the tool's mean time is <= this, seconds (default 2) */
  thresholdS?: number;
  /** paper rule: weight of the queueing delay (default 1) */
  eta?: number;
  /** keep the scheduler_timestamps history (default true) */
  recordTimestamps?: boolean;
}

export interface ContinuumContext {
  /** modelled time (ms) to prefill this many tokens from scratch (paper rule's reload cost) */
  prefillMs(tokens: number): number;
}

/** the fork's `None` job: requests without job_id */
const NONE_JOB = '\u0000none';
const SAMPLES_PER_TOOL = 1000;

interface Pin {
  req: SimRequest;
  job: string;
  deadlineMs: number;
}

interface ToolTimes {
  sumS: number;
  n: number;
  samples: number[];
}

export type SchedulerTimestamps = Record<string, Record<string, number>[]>;

export function jobKey(r: SimRequest): string {
  const j = r.program?.jobId;
  return j === undefined || j === null ? NONE_JOB : j;
}

class ContinuumQueue implements WaitingQueue {
  private q: SimRequest[] = [];
  private peeked = -1;
  /** requests waiting per program */
  readonly waitingPerJob = new Map<string, number>();

  constructor(
    private readonly firstArrival: Map<string, number>,
    private readonly pinnedJobs: Map<string, number>,
  ) {}

  get size(): number {
    return this.q.length;
  }

  private count(r: SimRequest, d: number): void {
    const k = jobKey(r);
    const n = (this.waitingPerJob.get(k) ?? 0) + d;
    if (n === 0) this.waitingPerJob.delete(k);
    else this.waitingPerJob.set(k, n);
  }

  push(r: SimRequest): void {
    this.q.push(r);
    this.count(r, 1);
    this.peeked = -1;
  }

  pushFront(r: SimRequest): void {
    this.q.unshift(r);
    this.count(r, 1);
    this.peeked = -1;
  }

  peek(): SimRequest {
    const q = this.q;
    const first = this.firstArrival;
    let best = -1;
    let bestT = Number.POSITIVE_INFINITY;
    if (this.pinnedJobs.size > 0) {
      for (let i = 0; i < q.length; i++) {
        const k = jobKey(q[i]!);
        if (!this.pinnedJobs.has(k)) continue;
        const t = first.get(k) ?? q[i]!.arrivalMs;
        if (t < bestT) {
          bestT = t;
          best = i;
        }
      }
    }
    if (best < 0) {
      for (let i = 0; i < q.length; i++) {
        const t = first.get(jobKey(q[i]!)) ?? q[i]!.arrivalMs;
        if (t < bestT) {
          bestT = t;
          best = i;
        }
      }
    }
    this.peeked = best;
    return q[best]!;
  }

  popPeeked(): void {
    const [r] = this.q.splice(this.peeked, 1);
    this.count(r!, -1);
    this.peeked = -1;
  }

  remove(r: SimRequest): boolean {
    const i = this.q.indexOf(r);
    if (i < 0) return false;
    this.q.splice(i, 1);
    this.count(r, -1);
    this.peeked = -1;
    return true;
  }

  toArray(): SimRequest[] {
    return this.q.slice();
  }
}

export interface ContinuumPolicy extends SchedulingPolicy {
  schedulerTimestamps(epochOffsetMs?: number): SchedulerTimestamps;
  /** the tool's running-average time in seconds (undefined: never observed) */
  toolMeanS(tool: string): number | undefined;
  /** the pin length (s) the TTL rule gives this finished request now (0: no pin) */
  ttlFor(r: SimRequest, nowMs: number): number;
}

export function createContinuumPolicy(opts: ContinuumOptions, ctx: ContinuumContext): ContinuumPolicy {
  const parser = opts.parser ?? 'hermes';
  const rule = opts.ttlRule ?? 'public';
  const ttlS = opts.ttlS ?? 2;
  const thresholdS = opts.thresholdS ?? 2;
  const eta = opts.eta ?? 1;
  const record = opts.recordTimestamps ?? true;
  const firstArrival = new Map<string, number>();
  const pinnedJobs = new Map<string, number>();
  const queue = new ContinuumQueue(firstArrival, pinnedJobs);
  const pins: Pin[] = [];
  /** per program: the last departure (ms) and its tool, until the next arrival */
  const lastDeparture = new Map<string, { ms: number; tool: string | null }>();
  const tools = new Map<string, ToolTimes>();
  const history = new Map<string, { k: string; ms: number; extra?: Record<string, number> }[]>();
  let queueDelayMs = 0;
  let admissions = 0;
  const c = {
    pinsCreated: 0,
    pinsExpired: 0,
    pinsReleasedByNextCall: 0,
    pinsReleasedUnderPressure: 0,
    pinHits: 0,
    pinHitTokens: 0,
  };

  const log = (job: string, k: string, ms: number, extra?: Record<string, number>) => {
    if (!record) return;
    let h = history.get(job);
    if (!h) {
      h = [];
      history.set(job, h);
    }
    h.push(extra ? { k, ms, extra } : { k, ms });
  };

  const unpin = (i: number, pool: BlockPool, nowMs: number) => {
    const p = pins[i]!;
    pins.splice(i, 1);
    const n = pinnedJobs.get(p.job)! - 1;
    if (n === 0) pinnedJobs.delete(p.job);
    else pinnedJobs.set(p.job, n);
    pool.freeBlocks(p.req.blocks);
    p.req.blocks.length = 0;
    log(p.job, 'unpinned_time', nowMs);
  };

  /** pop_running_request_based_on_last_step with <= 1 running: the pin with the latest deadline */
  const releaseLatestPin = (pool: BlockPool, nowMs: number) => {
    let best = 0;
    for (let i = 1; i < pins.length; i++) if (pins[i]!.deadlineMs > pins[best]!.deadlineMs) best = i;
    unpin(best, pool, nowMs);
    c.pinsReleasedUnderPressure++;
  };

  const toolMeanS = (tool: string): number | undefined => {
    const t = tools.get(tool);
    return t === undefined ? undefined : t.sumS / t.n;
  };

  const publicTtl = (tool: string): number => ((toolMeanS(tool) ?? 0) > thresholdS ? 0 : ttlS);

  const ttlFor = (r: SimRequest): number => {
    const tool = r.funcCall;
    if (tool === null) return 0;
    if (rule === 'public') return publicTtl(tool);
    const t = tools.get(tool);
    if (t === undefined || t.samples.length === 0) return publicTtl(tool);
    const reloadS = ctx.prefillMs(r.total) / 1000;
    const benefit = (queueDelayMs / 1000) * eta + reloadS;
    const s = t.samples.slice().sort((a, b) => a - b);
    let bestTau = 0;
    let best = 0; // tau = 0: P(0) counts tools taking no time; reward 0 * ... conservatively 0
    for (let i = 0; i < s.length; i++) {
      // P(tau = s[i]) = share of samples <= s[i]; take the last index of equal values
      if (i + 1 < s.length && s[i + 1] === s[i]) continue;
      const reward = ((i + 1) / s.length) * benefit - s[i]!;
      if (reward > best) {
        best = reward;
        bestTau = s[i]!;
      }
    }
    return bestTau;
  };

  const policy: ContinuumPolicy = {
    name: 'continuum',
    queue,

    onArrival(r, nowMs) {
      const job = jobKey(r);
      if (!firstArrival.has(job)) firstArrival.set(job, r.arrivalMs);
      const last = lastDeparture.get(job);
      if (last !== undefined) {
        r.lastFuncCall = last.tool;
        if (last.tool !== null) {
          const dt = (nowMs - last.ms) / 1000;
          let t = tools.get(last.tool);
          if (!t) {
            t = { sumS: 0, n: 0, samples: [] };
            tools.set(last.tool, t);
          }
          t.sumS += dt;
          t.n++;
          if (t.samples.length >= SAMPLES_PER_TOOL) t.samples.shift();
          t.samples.push(dt);
        }
        lastDeparture.delete(job);
      }
      log(job, 'Request_arrival_time', nowMs);
    },

    beginStep(nowMs, pool) {
      if (pins.length === 0) return;
      const waiting = queue.waitingPerJob;
      for (let i = 0; i < pins.length; ) {
        const p = pins[i]!;
        if (nowMs >= p.deadlineMs && !waiting.has(p.job)) {
          unpin(i, pool, nowMs);
          c.pinsExpired++;
        } else {
          i++;
        }
      }
    },

    victimIndex(running, _cur, pool, nowMs) {
      if (running.length <= 1) {
        if (pins.length === 0) return running.length - 1;
        releaseLatestPin(pool, nowMs);
        return -1;
      }
      let best = -1;
      let bestT = Number.NEGATIVE_INFINITY;
      for (let pass = 0; pass < 2 && best < 0; pass++) {
        for (let i = 0; i < running.length; i++) {
          const r = running[i]!;
          if (pass === 0 && r.program?.isLastStep === true) continue;
          const t = firstArrival.get(jobKey(r)) ?? r.arrivalMs;
          if (t > bestT) {
            bestT = t;
            best = i;
          }
        }
      }
      return best;
    },

    releaseForAdmission(pool, nowMs) {
      if (pins.length === 0) return false;
      releaseLatestPin(pool, nowMs);
      return true;
    },

    onPreempted(r, nowMs) {
      log(jobKey(r), 'Request_evicted_from_running_queue_time', nowMs);
    },

    onAdmitted(r, hitTokens, nowMs) {
      const job = jobKey(r);
      const wait = nowMs - r.arrivalMs;
      admissions++;
      queueDelayMs += (wait - queueDelayMs) / Math.min(admissions, 64);
      if (hitTokens > 0 && pinnedJobs.has(job)) {
        c.pinHits++;
        c.pinHitTokens += hitTokens;
      }
      log(job, r.preemptions > 0 ? 'evicted_to_running' : 'waiting_to_running', nowMs, {
        prompt_length: r.total,
        hit_length: hitTokens,
      });
    },

    onFinished(r, reason: EngineFinishReason, nowMs, pool) {
      const job = jobKey(r);
      r.funcCall = resolveFuncCall(parser, r.program?.thisFuncCall, finishedText(r, reason));
      lastDeparture.set(job, { ms: nowMs, tool: r.funcCall });
      log(job, 'Request_departure_time', nowMs);
      for (let i = 0; i < pins.length; ) {
        if (pins[i]!.job === job) {
          unpin(i, pool, nowMs);
          c.pinsReleasedByNextCall++;
        } else {
          i++;
        }
      }
      if (r.program?.isLastStep === true) return false;
      const ttl = ttlFor(r);
      if (!(ttl > 0.01)) return false;
      pins.push({ req: r, job, deadlineMs: nowMs + ttl * 1000 });
      pinnedJobs.set(job, (pinnedJobs.get(job) ?? 0) + 1);
      c.pinsCreated++;
      log(job, 'pinned_time', nowMs);
      return true;
    },

    nextDeadlineMs(nowMs) {
      let h = Number.POSITIVE_INFINITY;
      for (let i = 0; i < pins.length; i++) {
        const d = pins[i]!.deadlineMs;
        if (d > nowMs && d < h) h = d;
      }
      return h;
    },

    stats(pool): PolicyStats {
      const perBlock = new Map<number, number>();
      for (const p of pins) for (const b of p.req.blocks) perBlock.set(b, (perBlock.get(b) ?? 0) + 1);
      let only = 0;
      for (const [b, n] of perBlock) if (pool.refCount(b) === n) only++;
      return {
        policy: 'continuum',
        pinnedRequests: pins.length,
        pinnedBlocks: perBlock.size,
        pinnedOnlyBlocks: only,
        ...c,
      };
    },

    schedulerTimestamps(epochOffsetMs = 0) {
      const out: SchedulerTimestamps = {};
      for (const [job, h] of history) {
        out[job === NONE_JOB ? 'null' : job] = h.map((e) => ({
          [e.k]: (e.ms + epochOffsetMs) / 1000,
          ...(e.extra ?? {}),
        }));
      }
      return out;
    },

    toolMeanS,
    ttlFor: (r) => ttlFor(r),
  };
  return policy;
}

/** the text the request generated: all of it at its EOS, else the share of it emitted */
function finishedText(r: SimRequest, reason: EngineFinishReason): string | undefined {
  const t = r.outputText;
  if (t === undefined || reason === 'stop' || r.outputs >= r.target) return t;
  return t.slice(0, Math.floor((t.length * r.outputs) / r.target));
}

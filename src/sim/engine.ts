/**
 * The simulated vLLM engine: scheduler + block pool + step-time model driven by a Clock.
 * One code path for both clocks: a step is scheduled at its start, its end is a clock event,
 * and the next step starts right at the end of the previous one while there is work.
 * With a VirtualClock, runs of uniform decode steps are fast-forwarded (see `fastForward`).
 */
import { ServelabError } from '../errors.js';
import type { GpuProfile } from '../knowledge/gpus.js';
import type { KvDtype, ModelProfile, WeightDtype } from '../knowledge/models.js';
import type { Capacity } from './capacity.js';
import { isVirtualClock, type VirtualClock } from './clock.js';
import type {
  Clock,
  Engine,
  EngineFinishReason,
  EngineRequestInfo,
  EngineRequestListener,
  EngineRequestSpec,
  EngineSnapshot,
  ResolvedEngineConfig,
  StepInfo,
} from './engine-api.js';
import { type EngineOptions, resolveEngineConfig } from './engine-config.js';
import type { ContinuumPolicy, SchedulerTimestamps } from './policy/continuum.js';
import { createPolicy } from './policy/index.js';
import type { SchedulingPolicy } from './policy/types.js';
import { ReqState, SimRequest } from './request.js';
import { Scheduler } from './scheduler.js';
import { makeStepTime, type StepTimeFn } from './step-time.js';

export interface SimEngine extends Engine {
  readonly model: ModelProfile;
  readonly gpuProfile: GpuProfile;
  /** undefined when numGpuBlocksOverride was given */
  readonly capacity: Capacity | undefined;
  /** the lines vLLM logs at startup ("GPU KV cache size: ...", "Maximum concurrency ...") */
  readonly startupLines: readonly string[];
  /** steps executed (fast-forwarded steps included) */
  readonly stepCount: number;
  /** steps covered by fast-forward */
  readonly fastForwardedSteps: number;
  /** the scheduling policy (engine config schedulingPolicy) */
  readonly policy: SchedulingPolicy;
  /**
   * The Continuum fork's `scheduler_timestamps` document (what it writes on SIGTERM): per job
   * id, its events in seconds of the engine clock plus epochOffsetMs (pass Date.now() -
   * clock.nowMs() for the fork's time.time() seconds). undefined unless the policy is continuum.
   */
  schedulerTimestamps(epochOffsetMs?: number): SchedulerTimestamps | undefined;
}

/** The engine's step time: opts.stepTimeFn, else the roofline model of its resolved config. */
export function engineStepTime(
  opts: EngineOptions,
  r: ReturnType<typeof resolveEngineConfig> = resolveEngineConfig(opts),
): StepTimeFn {
  return (
    opts.stepTimeFn ??
    makeStepTime({
      model: r.model,
      gpu: r.gpu,
      tp: r.config.tp,
      weightDtype: r.config.weightDtype as WeightDtype,
      kvCacheDtype: r.config.kvCacheDtype as KvDtype,
      ...(opts.stepTimeScale !== undefined ? { scale: opts.stepTimeScale } : {}),
      ...(opts.stepTimeMs !== undefined ? { fixedMs: opts.stepTimeMs } : {}),
      ...(opts.fp8GemmEfficiency !== undefined ? { fp8GemmEfficiency: opts.fp8GemmEfficiency } : {}),
    })
  );
}

/** Build an engine on a clock (RealClock for the HTTP front, VirtualClock in-process). */
export function createEngine(opts: EngineOptions, clock: Clock): SimEngine {
  const r = resolveEngineConfig(opts);
  const stepTime = engineStepTime(opts, r);
  const policy = createPolicy(r.config.schedulingPolicy ?? 'fcfs', opts.continuum, {
    prefillMs: (tokens) => stepTime(tokens, 1, 1, tokens, tokens * tokens),
  });
  return new EngineImpl(
    r.config,
    r.model,
    r.gpu,
    r.capacity,
    stepTime,
    clock,
    opts.fastForward ?? true,
    policy,
  );
}

/** real time: how far behind plan (ms) the engine may start a step to stay on its modelled cadence */
const MAX_CATCH_UP_MS = 10;

class EngineImpl implements SimEngine {
  readonly config: ResolvedEngineConfig;
  readonly model: ModelProfile;
  readonly gpuProfile: GpuProfile;
  readonly capacity: Capacity | undefined;
  readonly startupLines: readonly string[];
  onStep?: (info: StepInfo) => void;
  stepCount = 0;
  fastForwardedSteps = 0;
  realTimeLagMs = 0;
  private readonly sched: Scheduler;
  private readonly byId = new Map<string, SimRequest>();
  private readonly clock: Clock;
  private readonly vclock: VirtualClock | undefined;
  private readonly stepTime: StepTimeFn;
  /** idle: no step in flight or queued; kicked: a step start is queued; stepping: a step end is queued */
  private phase: 0 | 1 | 2 = 0;
  private stepStartMs = 0;
  /** intended end of the step in flight (real time: the next step starts here, see endStep) */
  private plannedEndMs = 0;
  private lastSubmitMs = 0;
  private readonly ffEnabled: boolean;
  /** cancels the wake-up of an engine asleep with waiting requests (see beginStep) */
  private wakeCancel: (() => void) | undefined = undefined;

  constructor(
    config: ResolvedEngineConfig,
    model: ModelProfile,
    gpu: GpuProfile,
    capacity: Capacity | undefined,
    stepTime: StepTimeFn,
    clock: Clock,
    fastForward: boolean,
    policy: SchedulingPolicy,
  ) {
    this.config = config;
    this.model = model;
    this.gpuProfile = gpu;
    this.capacity = capacity;
    this.stepTime = stepTime;
    this.clock = clock;
    this.vclock = isVirtualClock(clock) ? clock : undefined;
    this.ffEnabled = fastForward && this.vclock !== undefined;
    const maxConc = config.kvCapacityTokens / config.maxModelLen;
    this.startupLines = capacity
      ? capacity.lines
      : [
          `GPU KV cache size: ${config.kvCapacityTokens.toLocaleString('en-US')} tokens`,
          `Maximum concurrency for ${config.maxModelLen.toLocaleString('en-US')} tokens per request: ${maxConc.toFixed(2)}x`,
        ];
    this.sched = new Scheduler(
      {
        numGpuBlocks: config.numGpuBlocks,
        blockSize: config.blockSize,
        maxNumSeqs: config.maxNumSeqs,
        maxNumBatchedTokens: config.maxNumBatchedTokens,
        maxModelLen: config.maxModelLen,
        enablePrefixCaching: config.enablePrefixCaching,
      },
      policy,
    );
  }

  get policy(): SchedulingPolicy {
    return this.sched.policy;
  }

  schedulerTimestamps(epochOffsetMs = 0): SchedulerTimestamps | undefined {
    const p = this.sched.policy;
    return p.name === 'continuum' ? (p as ContinuumPolicy).schedulerTimestamps(epochOffsetMs) : undefined;
  }

  /**
   * Queue a request. The caller validates lengths (the HTTP front answers 400); a prompt that
   * leaves no room for one output token under max_model_len, or a duplicate live id, throws.
   * The engine reads `promptTokenIds` (and `outputTokenIds`) until the request finishes: do not
   * change those entries meanwhile (appending after the finish is fine).
   */
  submit(spec: EngineRequestSpec, listener: EngineRequestListener): void {
    if (spec.promptTokenIds.length >= this.config.maxModelLen) {
      throw new ServelabError(
        'BAD_CONFIG',
        `request ${spec.id}: prompt of ${spec.promptTokenIds.length} tokens leaves no room under max_model_len ${this.config.maxModelLen}`,
      );
    }
    if (spec.promptTokenIds.length === 0) {
      throw new ServelabError('BAD_CONFIG', `request ${spec.id}: empty prompt`);
    }
    if (this.byId.has(spec.id)) {
      throw new ServelabError('BAD_CONFIG', `request id ${spec.id} is already in the engine`);
    }
    const nowMs = this.clock.nowMs();
    this.lastSubmitMs = nowMs;
    const req = new SimRequest(spec, listener, nowMs, this.config.maxModelLen);
    this.byId.set(spec.id, req);
    this.sched.addWaiting(req, nowMs);
    if (this.phase === 0 || this.wakeCancel !== undefined) {
      this.cancelWake();
      this.phase = 1;
      this.clock.schedule(this.clock.nowMs(), this.startStep);
    }
  }

  abort(id: string): void {
    const req = this.byId.get(id);
    if (!req) return;
    if (!this.sched.remove(req, this.clock.nowMs())) return;
    this.byId.delete(id);
    this.sched.counters.finished.abort++;
    req.listener.onFinish('abort', this.info(req, this.clock.nowMs()));
  }

  snapshot(): EngineSnapshot {
    const c = this.sched.counters;
    const ps = this.sched.policy.stats(this.sched.pool);
    return {
      nowMs: this.clock.nowMs(),
      running: this.sched.running.length,
      waiting: this.sched.numWaiting,
      kvUsageFrac: this.sched.pool.usageFrac,
      counters: { ...c, finished: { ...c.finished } },
      ...(ps !== undefined ? { policy: ps } : {}),
    };
  }

  resetPrefixCache(): boolean {
    return this.sched.pool.reset();
  }

  private info(r: SimRequest, nowMs: number): EngineRequestInfo {
    return {
      promptTokens: r.promptLen,
      outputTokens: r.outputs,
      cachedTokens: r.cachedTokens,
      preemptions: r.preemptions,
      arrivalMs: r.arrivalMs,
      ...(r.firstScheduledMs !== undefined ? { firstScheduledMs: r.firstScheduledMs } : {}),
      ...(r.firstTokenMs !== undefined ? { firstTokenMs: r.firstTokenMs } : {}),
      finishMs: nowMs,
    };
  }

  private readonly startStep = (): void => {
    this.wakeCancel = undefined;
    this.beginStep(this.clock.nowMs());
  };

  private cancelWake(): void {
    if (this.wakeCancel !== undefined) {
      this.wakeCancel();
      this.wakeCancel = undefined;
    }
  }

  private beginStep(now: number): void {
    const b = this.sched.schedule(now);
    if (b.n === 0) {
      if (b.preempted > 0) {
        // the only schedulable request preempted itself: vLLM schedules again at once
        this.phase = 1;
        this.clock.schedule(now, this.startStep);
        return;
      }
      // nothing fits while requests wait (continuum: blocks pinned): sleep until the policy's
      // next deadline, or until a new arrival (submit cancels the wake)
      const wake =
        this.sched.numWaiting > 0 ? this.sched.policy.nextDeadlineMs(now) : Number.POSITIVE_INFINITY;
      if (wake < Number.POSITIVE_INFINITY) {
        this.phase = 1;
        this.wakeCancel = this.clock.schedule(wake, this.startStep);
        return;
      }
      this.phase = 0;
      return;
    }
    this.phase = 2;
    this.stepStartMs = now;
    const t = this.stepTime(b.tokens, b.sampling, b.n, b.sumKv, b.sumAttn2);
    this.plannedEndMs = now + t;
    this.clock.schedule(now + t, this.endStep);
  }

  private readonly endStep = (): void => {
    const now = this.clock.nowMs();
    const s = this.sched;
    const b = s.batch;
    this.stepCount++;
    if (this.onStep) {
      this.onStep({
        startMs: this.stepStartMs,
        endMs: now,
        numTokens: b.tokens,
        numRunning: b.n,
        numPreempted: b.preempted,
      });
    }
    s.finishStep(now);
    const emitted = s.emitted;
    const finished = s.finished;
    // token events first, then finishes (a listener may submit from onFinish)
    const ne = s.emittedN;
    const nf = s.finishedN;
    for (let i = 0; i < ne; i++) {
      const r = emitted[i]!;
      if (r.outputs === 1) {
        r.firstTokenMs = now;
        r.listener.onFirstToken?.(now);
      }
      r.listener.onTokens?.(1, now);
    }
    for (let i = 0; i < nf; i++) {
      const r = finished[i]!;
      this.byId.delete(r.id);
      r.listener.onFinish(s.finishReasons[i] as EngineFinishReason, this.info(r, now));
    }
    if (this.ffEnabled) {
      const endMs = this.fastForward(now);
      if (endMs > now) {
        this.clock.schedule(endMs, this.startStep);
        this.phase = 1;
        return;
      }
    }
    if (this.vclock) {
      this.beginStep(now);
      return;
    }
    // Real time: the next step starts where this one was planned to end, not after the time the
    // front spent streaming this step's tokens: a GPU overlaps output processing with the next
    // forward pass, and starting late would make every real-time step longer than modelled by
    // the streaming cost (~16 ms at 2,000 streams). Never before the last arrival (no request
    // is scheduled before it arrived). A host that fell further behind than MAX_CATCH_UP_MS
    // does not get to compress the following steps: the excess is counted as lag instead.
    let start = Math.max(this.plannedEndMs, this.lastSubmitMs);
    const behind = now - start; // how late this step end fired
    if (behind > MAX_CATCH_UP_MS) {
      this.realTimeLagMs += behind - MAX_CATCH_UP_MS;
      start += behind - MAX_CATCH_UP_MS;
    }
    this.beginStep(start);
  };

  /**
   * Virtual time only: when every running request is decoding (one token per step), no
   * listener streams tokens, nothing can be admitted (waiting empty or max_num_seqs reached),
   * apply k uniform decode steps at once, where k stops before any request finishes, before the
   * clock's next event / runUntil limit, and where the blocks the k steps need are free (so no
   * allocation can fail and nothing is preempted). Step times are summed exactly as k single
   * steps would (same integer aggregates, same additions). Returns the time the next step
   * starts (== nowMs when nothing was fast-forwarded).
   */
  private fastForward(nowMs: number): number {
    const s = this.sched;
    const running = s.running;
    const B = running.length;
    if (B === 0 || B > this.config.maxNumBatchedTokens) return nowMs;
    if (s.numWaiting > 0 && B < this.config.maxNumSeqs) return nowMs;
    let kMax = Number.POSITIVE_INFINITY;
    let sumC = 0;
    for (let i = 0; i < B; i++) {
      const r = running[i]!;
      // outputs 0: a chunked prefill left exactly its last prompt token; the step computing it
      // emits the FIRST token, which fast-forward does not report (firstTokenMs): step it singly
      if (r.streams || r.total - r.computed !== 1 || r.outputs === 0) return nowMs;
      const left = Math.min(r.maxOut, r.target) - r.outputs;
      const lenLeft = this.config.maxModelLen - r.total;
      const fin = Math.min(left, lenLeft);
      if (fin - 1 < kMax) kMax = fin - 1;
      sumC += r.computed;
    }
    if (kMax < 2) return nowMs;
    // the policy's own limit (continuum: the next pin deadline, where a step start would expire it)
    const horizon = Math.min(this.vclock!.horizonMs(), s.policy.nextDeadlineMs(nowMs));
    // time: step j computes contexts c_r + j; aggregates as schedule() computes them
    let t = nowMs;
    let k = 0;
    while (k < kMax) {
      const c = sumC + k * B;
      const dt = this.stepTime(B, B, B, c + B, 2 * c + B);
      const end = t + dt;
      if (!(end < horizon)) break;
      t = end;
      k++;
    }
    if (k < 2) return nowMs;
    // blocks: every request must get its new blocks without failure
    const bs = this.config.blockSize;
    for (;;) {
      let need = 0;
      for (let i = 0; i < B; i++) {
        const r = running[i]!;
        const n = Math.ceil((r.computed + k) / bs) - r.blocks.length;
        if (n > 0) need += n;
      }
      if (need <= s.pool.numFree) break;
      k >>= 1;
      if (k < 2) return nowMs;
    }
    // recompute the end time for the (possibly reduced) k
    t = nowMs;
    for (let j = 0; j < k; j++) {
      const c = sumC + j * B;
      const dt = this.stepTime(B, B, B, c + B, 2 * c + B);
      if (this.onStep) {
        this.onStep({ startMs: t, endMs: t + dt, numTokens: B, numRunning: B, numPreempted: 0 });
      }
      t += dt;
    }
    const pool = s.pool;
    const caching = pool.prefixCaching;
    for (let i = 0; i < B; i++) {
      const r = running[i]!;
      const n = Math.ceil((r.computed + k) / bs) - r.blocks.length;
      if (n > 0) pool.allocate(n, r.blocks);
      r.computed += k;
      r.outputs += k;
      r.total += k;
      if (caching) s.cacheFull(r, r.computed);
    }
    s.counters.generationTokens += k * B;
    this.stepCount += k;
    this.fastForwardedSteps += k;
    return t;
  }
}

export { type EngineOptions, ReqState, resolveEngineConfig };

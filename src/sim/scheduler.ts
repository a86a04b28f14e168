/**
 * vLLM V1 scheduling (FCFS, chunked prefill, prefix caching, preemption by recompute):
 * 1. running requests first, in admission order: n = min(tokens left to compute, budget);
 *    allocate; on failure preempt the NEWEST running request (free its blocks, reset to 0
 *    computed tokens, push to the FRONT of waiting) and retry; if the victim is the request
 *    itself, stop scheduling running requests;
 * 2. waiting requests only if nothing was preempted this step, while budget > 0 and
 *    running < max_num_seqs: prefix hit = longest run of cached full blocks, capped below the
 *    whole sequence; on allocation failure stop (head-of-line blocking).
 * Blocks that become full are hashed and cached when their tokens are scheduled (vLLM V1's
 * allocate_slots), so identical prompts admitted in the same step share blocks.
 * 3. step end (`finishStep`): computed += n; a request whose known tokens are all computed
 *    samples one token; stop checks as vLLM's check_stop
 *    (max_model_len / max_tokens -> 'length' first, then EOS -> 'stop').
 * Prefix-cache queries and hits are counted in tokens at (each) successful admission.
 *
 * The policy (policy/*.ts; FCFS by default) decides the waiting order, the preemption victim
 * (FCFS: the newest running request, as above; a victim already scheduled in this step is taken
 * out of the step and its budget returned, as vLLM's priority path does) and whether a finished
 * request's blocks are freed (continuum may pin them). When the head waiting request does not
 * fit and nothing runs, a policy with `releaseForAdmission` may free blocks (continuum: a pin)
 * and the queue is asked again.
 */
import { BlockPool } from './block-pool.js';
import type { EngineCounters } from './engine-api.js';
import { createFcfsPolicy } from './policy/fcfs.js';
import type { SchedulingPolicy, WaitingQueue } from './policy/types.js';
import { ReqState, type SimRequest } from './request.js';

export interface SchedulerConfig {
  numGpuBlocks: number;
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  maxModelLen: number;
  enablePrefixCaching: boolean;
}

/**
 * what one schedule() call produced; arrays are reused between steps and hold their entries in
 * [0, n) (never truncated: a truncated array gives its storage back and every push of the next
 * step allocates again)
 */
export interface StepBatch {
  reqs: SimRequest[];
  /** requests in this step: reqs[0 .. n-1] */
  n: number;
  tokens: number;
  sampling: number;
  sumKv: number;
  sumAttn2: number;
  preempted: number;
}

export function newCounters(): EngineCounters {
  return {
    promptTokens: 0,
    generationTokens: 0,
    preemptions: 0,
    prefixQueries: 0,
    prefixHits: 0,
    cachedPromptTokens: 0,
    finished: { stop: 0, length: 0, abort: 0 },
  };
}

export class Scheduler {
  readonly cfg: SchedulerConfig;
  readonly pool: BlockPool;
  readonly policy: SchedulingPolicy;
  /** the policy's waiting queue; preempted requests go back via pushFront */
  private readonly waiting: WaitingQueue;
  running: SimRequest[] = [];
  readonly counters: EngineCounters = newCounters();
  readonly batch: StepBatch = { reqs: [], n: 0, tokens: 0, sampling: 0, sumKv: 0, sumAttn2: 0, preempted: 0 };
  /** requests finished during the last finishStep, with their reasons: [0, finishedN) (reused) */
  readonly finished: SimRequest[] = [];
  readonly finishReasons: ('stop' | 'length')[] = [];
  finishedN = 0;
  /** requests that emitted a token in the last finishStep: [0, emittedN) (reused) */
  readonly emitted: SimRequest[] = [];
  emittedN = 0;

  constructor(cfg: SchedulerConfig, policy: SchedulingPolicy = createFcfsPolicy()) {
    this.cfg = cfg;
    this.pool = new BlockPool(cfg.numGpuBlocks, cfg.enablePrefixCaching);
    this.policy = policy;
    this.waiting = policy.queue;
  }

  get numWaiting(): number {
    return this.waiting.size;
  }

  /** queue a new arrival at time nowMs */
  addWaiting(r: SimRequest, nowMs: number = r.arrivalMs): void {
    this.policy.onArrival(r, nowMs);
    r.state = ReqState.Waiting;
    this.waiting.push(r);
  }

  private blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.cfg.blockSize);
  }

  private preempt(victim: SimRequest, nowMs: number): void {
    this.pool.freeBlocks(victim.blocks);
    victim.blocks.length = 0;
    victim.cachedBlocks = 0;
    victim.computed = 0;
    victim.preemptions++;
    this.counters.preemptions++;
    victim.state = ReqState.Waiting;
    this.waiting.pushFront(victim);
    this.policy.onPreempted(victim, nowMs);
  }

  /**
   * remove a request wherever it is (abort); its blocks are freed unless the policy keeps
   * them; true if it was known
   */
  remove(r: SimRequest, nowMs: number): boolean {
    if (r.state === ReqState.Running) {
      const i = this.running.indexOf(r);
      if (i >= 0) this.running.splice(i, 1);
    } else if (r.state === ReqState.Waiting) {
      this.waiting.remove(r);
    } else {
      return false;
    }
    r.state = ReqState.Finished;
    if (!this.policy.onFinished(r, 'abort', nowMs, this.pool)) {
      this.pool.freeBlocks(r.blocks);
      r.blocks.length = 0;
    }
    return true;
  }

  /**
   * Register the request's blocks that are full once `tokens` tokens are computed. As vLLM V1
   * (allocate_slots -> cache_blocks) this happens when the tokens are scheduled, so a request
   * admitted later in the same step already hits them.
   */
  cacheFull(r: SimRequest, tokens: number): void {
    const bs = this.cfg.blockSize;
    const full = Math.floor(tokens / bs);
    while (r.cachedBlocks < full) {
      const k = r.cachedBlocks;
      this.pool.cache(r.blocks[k]!, r.hashAt(k, bs));
      r.cachedBlocks = k + 1;
    }
  }

  /** pick this step's batch at time nowMs */
  schedule(nowMs: number): StepBatch {
    const b = this.batch;
    const reqs = b.reqs;
    let nr = 0;
    let tokens = 0;
    let sampling = 0;
    let sumKv = 0;
    let sumAttn2 = 0;
    let preempted = 0;
    let budget = this.cfg.maxNumBatchedTokens;
    const pool = this.pool;
    const bs = this.cfg.blockSize;
    const running = this.running;
    const policy = this.policy;
    const waiting = this.waiting;
    policy.beginStep(nowMs, pool);

    // 1. running
    let i = 0;
    outer: while (i < running.length && budget > 0) {
      const r = running[i]!;
      const n = Math.min(r.total - r.computed, budget);
      const need = Math.ceil((r.computed + n) / bs) - r.blocks.length;
      if (need > 0) {
        while (need > pool.numFree) {
          const vi = policy.victimIndex(running, i, pool, nowMs);
          if (vi < 0) continue; // the policy freed blocks (a pin released): retry
          const victim = running[vi]!;
          if (vi === running.length - 1) running.pop();
          else running.splice(vi, 1);
          if (vi < i) {
            // already scheduled in this step: take it out and give its budget back
            const vn = victim.stepTokens;
            const vc = victim.computed;
            let j = 0;
            while (reqs[j] !== victim) j++;
            for (; j < nr - 1; j++) reqs[j] = reqs[j + 1]!;
            nr--;
            budget += vn;
            tokens -= vn;
            sumKv -= vc + vn;
            sumAttn2 -= 2 * vn * vc + vn * vn;
            if (vc + vn >= victim.total) sampling--;
            i--;
          }
          this.preempt(victim, nowMs);
          preempted++;
          if (victim === r) break outer;
        }
        pool.allocate(need, r.blocks);
      }
      if (pool.prefixCaching) this.cacheFull(r, r.computed + n);
      r.stepTokens = n;
      reqs[nr++] = r;
      budget -= n;
      tokens += n;
      const c = r.computed;
      sumKv += c + n;
      sumAttn2 += 2 * n * c + n * n;
      if (c + n >= r.total) sampling++;
      i++;
    }

    // 2. waiting
    if (preempted === 0) {
      while (waiting.size > 0 && budget > 0 && running.length < this.cfg.maxNumSeqs) {
        const r = waiting.peek();
        let hitBlocks = 0;
        let evictable = 0;
        if (pool.prefixCaching) {
          const maxHit = Math.floor((r.total - 1) / bs);
          while (hitBlocks < maxHit) {
            const blk = pool.lookup(r.hashAt(hitBlocks, bs));
            if (blk < 0) break;
            if (pool.isFree(blk)) evictable++;
            hitBlocks++;
          }
        }
        const hitTokens = hitBlocks * bs;
        const n = Math.min(r.total - hitTokens, budget);
        const need = this.blocksFor(hitTokens + n) - hitBlocks;
        if (need + evictable > pool.numFree) {
          // nothing runs, so no preemption can help: the policy may free blocks (continuum)
          if (running.length === 0 && policy.releaseForAdmission?.(pool, nowMs) === true) continue;
          break;
        }
        for (let k = 0; k < hitBlocks; k++) {
          const blk = pool.lookup(r.hashes[k]!);
          pool.touch(blk);
          r.blocks.push(blk);
        }
        pool.allocate(need, r.blocks);
        r.cachedBlocks = hitBlocks;
        if (pool.prefixCaching) this.cacheFull(r, hitTokens + n);
        r.computed = hitTokens;
        r.cachedTokens = hitTokens;
        this.counters.prefixQueries += r.total;
        this.counters.prefixHits += hitTokens;
        waiting.popPeeked();
        r.state = ReqState.Running;
        if (r.firstScheduledMs === undefined) r.firstScheduledMs = nowMs;
        policy.onAdmitted(r, hitTokens, nowMs);
        running.push(r);
        r.stepTokens = n;
        reqs[nr++] = r;
        budget -= n;
        tokens += n;
        sumKv += hitTokens + n;
        sumAttn2 += 2 * n * hitTokens + n * n;
        if (hitTokens + n >= r.total) sampling++;
      }
    }
    b.n = nr;
    b.tokens = tokens;
    b.sampling = sampling;
    b.sumKv = sumKv;
    b.sumAttn2 = sumAttn2;
    b.preempted = preempted;
    return b;
  }

  /**
   * Apply the batch at step end: advance computed tokens, cache newly full blocks, sample one
   * token per request whose known tokens are all computed, stop checks. Fills `emitted` and
   * `finished` (+ `finishReasons`); finished requests leave `running` and free their blocks
   * (unless the policy keeps them).
   */
  finishStep(nowMs = 0): void {
    const reqs = this.batch.reqs;
    const nr = this.batch.n;
    const emitted = this.emitted;
    const finished = this.finished;
    const reasons = this.finishReasons;
    let ne = 0;
    let nf = 0;
    const pool = this.pool;
    const maxModelLen = this.cfg.maxModelLen;
    const counters = this.counters;
    for (let i = 0; i < nr; i++) {
      const r = reqs[i]!;
      if (r.state !== ReqState.Running) continue; // aborted or preempted meanwhile
      r.computed += r.stepTokens;
      if (r.computed < r.total) continue; // partial prefill
      r.outputs++;
      r.total++;
      counters.generationTokens++;
      if (r.outputs === 1) {
        // as vLLM's iteration stats: a request's prompt (cached part included) counts once
        counters.promptTokens += r.promptLen;
        counters.cachedPromptTokens += r.cachedTokens;
      }
      emitted[ne++] = r;
      if (r.total >= maxModelLen || r.outputs >= r.maxOut) {
        finished[nf] = r;
        reasons[nf++] = 'length';
      } else if (r.outputs >= r.target) {
        finished[nf] = r;
        reasons[nf++] = 'stop';
      }
    }
    this.emittedN = ne;
    this.finishedN = nf;
    if (nf > 0) {
      for (let i = 0; i < nf; i++) {
        const r = finished[i]!;
        r.state = ReqState.Finished;
        const reason = reasons[i]!;
        if (!this.policy.onFinished(r, reason, nowMs, pool)) pool.freeBlocks(r.blocks);
        counters.finished[reason]++;
      }
      const running = this.running;
      let w = 0;
      for (let i = 0; i < running.length; i++) {
        const r = running[i]!;
        if (r.state === ReqState.Running) running[w++] = r;
      }
      running.length = w;
    }
  }
}

/**
 * The scheduling-policy seam of the simulated engine. The scheduler (scheduler.ts) keeps vLLM
 * V1's step structure (running first, then waiting, chunked prefill, prefix caching, no
 * admission in a step with a preemption) and asks the policy:
 * - which waiting request goes next (`queue`: its order, where a preempted request goes back);
 * - which running request is preempted when blocks run out (`victimIndex`);
 * - what happens to a finished request's blocks (`onFinished`: freed, or kept, e.g. pinned);
 * and the engine asks it how far uniform-decode fast-forward may go (`nextDeadlineMs`).
 */
import type { BlockPool } from '../block-pool.js';
import type { EngineFinishReason, PolicyStats } from '../engine-api.js';
import type { SimRequest } from '../request.js';

export type PolicyName = 'fcfs' | 'priority' | 'continuum';

export const POLICY_NAMES: readonly PolicyName[] = ['fcfs', 'priority', 'continuum'];

/** the waiting queue in the policy's order */
export interface WaitingQueue {
  readonly size: number;
  /** a new arrival */
  push(r: SimRequest): void;
  /** a preempted request going back (vLLM: prepend_request) */
  pushFront(r: SimRequest): void;
  /** the request the policy would admit next (size > 0) */
  peek(): SimRequest;
  /** remove the request peek() returned */
  popPeeked(): void;
  /** remove a request wherever it is (abort); false if absent */
  remove(r: SimRequest): boolean;
  /** every queued request (tests, stats); any order */
  toArray(): SimRequest[];
}

export interface SchedulingPolicy {
  readonly name: PolicyName;
  readonly queue: WaitingQueue;
  /** a request arrived (before it is queued) */
  onArrival(r: SimRequest, nowMs: number): void;
  /** start of a scheduling step (before any allocation): e.g. expire pins */
  beginStep(nowMs: number, pool: BlockPool): void;
  /**
   * Blocks ran out while scheduling running[cur]: the index in `running` of the request to
   * preempt (cur itself allowed), or -1 when the policy freed blocks some other way (a pin
   * released) and the allocation should be retried.
   */
  victimIndex(running: readonly SimRequest[], cur: number, pool: BlockPool, nowMs: number): number;
  /**
   * Optional. The waiting request the queue put first does not fit and nothing is running (no
   * preemption can free a block): free blocks some other way (continuum: release a pin) and
   * return true, and the scheduler asks the queue again; false (or absent): the step admits
   * nothing more, as vLLM.
   */
  releaseForAdmission?(pool: BlockPool, nowMs: number): boolean;
  /** a running request was preempted (its blocks are already freed) */
  onPreempted(r: SimRequest, nowMs: number): void;
  /** a waiting request was admitted with hitTokens of prefix hit */
  onAdmitted(r: SimRequest, hitTokens: number, nowMs: number): void;
  /**
   * A request finished (or was aborted). true: the policy keeps its blocks (the scheduler must
   * not free them; the policy frees them later); false: the scheduler frees them now.
   */
  onFinished(r: SimRequest, reason: EngineFinishReason, nowMs: number, pool: BlockPool): boolean;
  /**
   * The next time after nowMs at which the policy's state changes on its own (continuum: a pin
   * deadline; +Infinity: never). Virtual fast-forward stops before it, and an engine whose step
   * came out empty while requests wait sleeps until it (vLLM's engine loop keeps calling
   * schedule() while requests are unfinished).
   */
  nextDeadlineMs(nowMs: number): number;
  /** counters for the engine's stats API (undefined: nothing beyond vLLM's own) */
  stats(pool: BlockPool): PolicyStats | undefined;
}

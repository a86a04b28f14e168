/**
 * The contract between the simulated engine (scheduler + KV cache + step-time model) and its
 * drivers: the HTTP front (real time) and the in-process transport (virtual time). The engine
 * counts tokens; it never sees text. sim/ imports nothing from the harness.
 */
import type { PromptIds } from './prompt-parts.js';

/** Time source. Real: wall-clock with timers. Virtual: an event queue that jumps to the next event. */
export interface Clock {
  /** current time in ms (monotonic; virtual clocks start at a chosen epoch) */
  nowMs(): number;
  /** run fn at (or as soon as possible after) atMs; returns a cancel function */
  schedule(atMs: number, fn: () => void): () => void;
}

export type EngineFinishReason = 'stop' | 'length' | 'abort';

export interface EngineRequestSpec {
  id: string;
  /**
   * token ids of the prompt (after the chat template), one array or the parts it is made of
   * (prompt-parts.ts); used for prefix-cache block hashes
   */
  promptTokenIds: PromptIds;
  /** hard cap on output tokens (request max_tokens, or max_model_len - prompt) -> finish 'length' */
  maxTokens: number;
  /** the "EOS" point: output length the model would produce (<= maxTokens) -> finish 'stop' */
  targetOutputTokens: number;
  /**
   * optional ids of the tokens this request will generate (e.g. the tokenized answer text), so
   * that a later request re-sending the conversation hits the cached output blocks; missing ids
   * are synthetic (sim/block-hash.ts syntheticOutputTokenId)
   */
  outputTokenIds?: ArrayLike<number>;
  /**
   * optional prefix-cache hashes of the prompt's first full blocks at the engine's block size,
   * as sim/block-hash.ts chains them over `promptTokenIds` (an in-process caller that knows
   * them from an earlier prompt with the same prefix: sim/tokenizer.ts prefixBlockHashes); the
   * engine hashes the remaining blocks itself and appends them to this array
   */
  promptBlockHashes?: number[];
  /** vLLM's `priority` request field (smaller first; default 0); the priority policy reads it */
  priority?: number;
  /** agent-program fields (top-level request fields); the continuum policy reads them */
  program?: EngineProgramFields;
  /**
   * the text this request will generate; the continuum policy parses a tool call from it when
   * `program.thisFuncCall` is missing (the engine reads it only at the request's finish)
   */
  outputText?: string;
}

/** The Continuum fork's request fields: job_id, is_last_step, this_func_call, last_func_call. */
export interface EngineProgramFields {
  jobId?: string;
  isLastStep?: boolean;
  thisFuncCall?: string;
  lastFuncCall?: string;
}

export interface EngineRequestInfo {
  promptTokens: number;
  outputTokens: number;
  /** prompt tokens served from the prefix cache at (last) admission */
  cachedTokens: number;
  preemptions: number;
  arrivalMs: number;
  /** first time it was scheduled (queue time = firstScheduledMs - arrivalMs) */
  firstScheduledMs?: number;
  firstTokenMs?: number;
  finishMs: number;
}

export interface EngineRequestListener {
  /** the step that emitted the first output token ended at nowMs */
  onFirstToken?(nowMs: number): void;
  /**
   * n tokens were emitted by steps ending at nowMs. When a listener omits onTokens the
   * engine may fast-forward many uniform decode steps at once (virtual time).
   */
  onTokens?(n: number, nowMs: number): void;
  onFinish(reason: EngineFinishReason, info: EngineRequestInfo): void;
}

/** Per-step facts for metrics (vllm:iteration_tokens_total) and debugging. */
export interface StepInfo {
  startMs: number;
  endMs: number;
  /** tokens scheduled this step (prefill + decode) */
  numTokens: number;
  numRunning: number;
  numPreempted: number;
}

export interface EngineCounters {
  promptTokens: number;
  generationTokens: number;
  preemptions: number;
  /** token-weighted, as vLLM counts them */
  prefixQueries: number;
  prefixHits: number;
  cachedPromptTokens: number;
  finished: Record<EngineFinishReason, number>;
}

export interface EngineSnapshot {
  nowMs: number;
  running: number;
  waiting: number;
  /** 1 - free_blocks / (num_gpu_blocks - 1), cached idle blocks counted as free */
  kvUsageFrac: number;
  counters: EngineCounters;
  /** the scheduling policy's own counters (continuum: pins); absent for fcfs / priority */
  policy?: PolicyStats;
}

/** KV time-to-live (continuum) counters; blocks are KV blocks of block_size tokens */
export interface PolicyStats {
  policy: string;
  /** finished calls whose blocks are pinned now */
  pinnedRequests: number;
  /** distinct blocks the pins reference now */
  pinnedBlocks: number;
  /** of those, blocks nothing but pins holds (what pinning adds to kv_cache_usage_perc) */
  pinnedOnlyBlocks: number;
  pinsCreated: number;
  /** released at the step start after the TTL passed (and no call of the program waiting) */
  pinsExpired: number;
  /** released because the program's next call finished */
  pinsReleasedByNextCall: number;
  /** released to make room (a single running request short of blocks) */
  pinsReleasedUnderPressure: number;
  /** calls admitted with a prefix hit while their program had a pin */
  pinHits: number;
  pinHitTokens: number;
}

export interface ResolvedEngineConfig {
  model: string;
  gpu: string;
  tp: number;
  blockSize: number;
  numGpuBlocks: number;
  /** numGpuBlocks * blockSize */
  kvCapacityTokens: number;
  maxModelLen: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  /** vLLM's --scheduling-policy: fcfs (default), priority, continuum (the Continuum fork) */
  schedulingPolicy?: string;
  gpuMemoryUtilization: number;
  enablePrefixCaching: boolean;
  kvCacheDtype: string;
  weightDtype: string;
}

export interface Engine {
  readonly config: ResolvedEngineConfig;
  submit(spec: EngineRequestSpec, listener: EngineRequestListener): void;
  /** abort a waiting or running request: frees its blocks, finishes it with 'abort' */
  abort(id: string): void;
  snapshot(): EngineSnapshot;
  /** drop every cached block not in use (vLLM POST /reset_prefix_cache); false if blocks are in use */
  resetPrefixCache(): boolean;
  onStep?: (info: StepInfo) => void;
  /**
   * Real time only: milliseconds the engine fell behind its own model because the host could
   * not keep up (each step started later than the previous one was planned to end, beyond the
   * catch-up allowance). 0 in virtual time. Nonzero means the simulator's CPU, not the modelled
   * GPU, limited what clients saw.
   */
  readonly realTimeLagMs: number;
}

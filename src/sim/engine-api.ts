/**
 * The contract between the simulated engine (scheduler + KV cache + step-time model) and its
 * drivers: the HTTP front (real time) and the in-process transport (virtual time). The engine
 * counts tokens; it never sees text. sim/ imports nothing from the harness.
 */

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
  /** token ids of the prompt (after the chat template); used for prefix-cache block hashes */
  promptTokenIds: ArrayLike<number>;
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

/**
 * The Transport is owned by its consumers (loadgen and agent). The HTTP client (src/client)
 * and the in-process simulator (src/sim, virtual time) implement it; one contract suite runs
 * against every implementation. `call` NEVER rejects: a failed request is a CallResult with
 * status 'error' or 'incomplete'.
 */

export interface TextPart {
  type: 'text';
  text: string;
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | TextPart[] | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  name?: string;
}

export interface ToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** Where a call goes: an OpenAI-compatible base URL (ending in /v1) and the model name. */
export interface Endpoint {
  baseUrl: string;
  model: string;
  /** a short label for records and logs, e.g. "127.0.0.1:1900" */
  label?: string;
}

export interface CallRequest {
  endpoint: Endpoint;
  api: 'chat' | 'completions';
  messages?: ChatMessage[];
  /** for api 'completions' */
  prompt?: string;
  stream: boolean;
  maxTokens?: number;
  /** vLLM extension: generate at least this many tokens */
  minTokens?: number;
  /** vLLM extension: keep generating past EOS up to maxTokens */
  ignoreEos?: boolean;
  temperature?: number;
  tools?: ToolSpec[];
  /** merged into the JSON body last (program_id, job_id, chat_template_kwargs, ...) */
  extraBody?: Record<string, unknown>;
  /** extra HTTP headers (e.g. x-servelab-fault for the simulator) */
  extraHeaders?: Record<string, string>;
  /** bearer token; never written to records, logs or reports */
  apiKey?: string;
  /**
   * firstByteMs: send -> first body byte of a stream (the response, when not streamed);
   * idleMs: the longest gap between two reads after that (a stream that stops);
   * totalMs: send -> end. Absent or 0: no limit of that kind.
   */
  timeouts?: { firstByteMs?: number; idleMs?: number; totalMs?: number };
  signal?: AbortSignal;
  /**
   * Called on every read of the response (headers, each body read): a sign of life for a
   * watchdog (the agent's stall limit). Cheap and synchronous; never called after `call` settles.
   */
  onActivity?: () => void;
}

export type CallStatus = 'ok' | 'error' | 'incomplete';

/**
 * Why a call failed. 'error' calls produced no usable output; 'incomplete' calls started
 * streaming and were cut (reset, no [DONE], total timeout, aborted).
 */
export type ErrorKind =
  | 'refused' // connection refused: nothing listens (yet) on the port
  | 'unreachable' // connect timeout / DNS / no route
  | 'reset' // connection reset or closed mid-response
  | 'no_done' // stream ended without data: [DONE]
  | 'timeout_first_byte'
  | 'timeout_idle' // a stream that stopped: no byte for the idle timeout
  | 'timeout_total'
  | 'stalled' // ended by the agent's watchdog: no byte for limits.stallTimeoutS
  | 'http' // non-2xx status not covered below
  | 'rate_limited' // HTTP 429
  | 'server_error' // HTTP 5xx
  | 'context_length' // HTTP 400 over the max context length: never retry
  | 'bad_request' // other HTTP 4xx
  | 'malformed' // a chunk or body that is not valid JSON / not the expected shape
  | 'aborted'; // cancelled by the caller (Ctrl-C)

export interface CallError {
  kind: ErrorKind;
  message: string;
  httpStatus?: number;
  retryable: boolean;
  /** set when the server's text in `message` was cut: its full length in characters */
  messageChars?: number;
}

/** Response quirks that look like bugs and are not (WORKFLOWS.md W1). */
export type Quirk =
  | 'content_null_with_reasoning'
  | 'think_in_content'
  | 'length_cut_inside_think'
  | 'tool_call_as_text'
  | 'usage_missing'
  | 'token_count_mismatch';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** prompt_tokens_details.cached_tokens when the server reports it */
  cachedTokens?: number;
}

/**
 * All times are absolute milliseconds on a monotonic clock (performance.timeOrigin +
 * performance.now() for HTTP; virtual ms for the in-process simulator).
 */
export interface CallResult {
  status: CallStatus;
  error?: CallError;
  sentMs: number;
  /** first response byte (headers) */
  firstByteMs?: number;
  /** first SSE chunk of any kind (vLLM's bench TTFT: may be a role-only chunk) */
  firstChunkMs?: number;
  /** first chunk with non-empty content, reasoning or tool-call delta (our TTFT) */
  firstTokenMs?: number;
  /** last chunk with content/reasoning/tool-call delta (the trailing usage chunk excluded) */
  lastTokenMs?: number;
  endMs: number;
  /** times of every content-bearing chunk (for ITL), absolute ms */
  chunkMs: number[];
  /** assistant text with any <think> block removed */
  text: string;
  /** reasoning text: reasoning_content / reasoning fields, or the <think> block */
  reasoning: string;
  toolCalls: ToolCall[];
  finishReason?: string;
  usage?: Usage;
  quirks: Quirk[];
  /** the simulator reports its own first-token time (x-servelab-* headers / fields) for timing-truth checks */
  serverFirstTokenMs?: number;
  /** ms the call waited at a program-aware router before it was forwarded (x-servelab-router-queue-ms) */
  routerQueueMs?: number;
}

export interface Transport {
  call(req: CallRequest): Promise<CallResult>;
  close?(): Promise<void>;
}

import type { CallStatus, ErrorKind } from './transport.js';

/**
 * One line of requests.jsonl (serving benchmarks). Immutable once written; appended and flushed
 * as each request finishes. Times are absolute ms (see CallResult); derived latencies are
 * computed by analysis/, not stored, except the chunk offsets needed for ITL.
 */
export interface RequestRecord {
  v: 1;
  /** index of the request in the workload (0-based) */
  i: number;
  /** warm-up requests are recorded but excluded from results */
  warmup: boolean;
  /** the rate / concurrency step of a sweep this request belongs to (0 when not sweeping) */
  stage: number;
  endpoint: string;
  /** when the arrival process wanted it sent */
  scheduledMs: number;
  /** when it was actually sent; sentMs - scheduledMs = schedule lag */
  sentMs: number;
  firstByteMs?: number;
  firstChunkMs?: number;
  firstTokenMs?: number;
  lastTokenMs?: number;
  endMs: number;
  status: CallStatus;
  errorKind?: ErrorKind;
  /** the error, with at most 500 characters of the server's own text */
  errorMessage?: string;
  /** when the server's text in errorMessage was cut: its full length in characters */
  errorMessageChars?: number;
  httpStatus?: number;
  promptTokens: number;
  outputTokens: number;
  cachedTokens?: number;
  /** where the token counts came from */
  tokenSource: 'usage' | 'counted' | 'requested';
  /** offsets (ms, 3 decimals) of each content chunk from sentMs */
  chunkOffsetsMs: number[];
  finishReason?: string;
  quirks?: string[];
  serverFirstTokenMs?: number;
}

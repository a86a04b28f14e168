import type { CallError, CallRequest, CallResult } from '../loadgen/transport.js';
import { normaliseAnswer } from './normalize.js';
import { type StreamState, toolCallsInOrder } from './stream-state.js';

/**
 * Building CallResults, shared by the HTTP transport and the in-process simulator transport so
 * both apply the same status rule and quirk flags: 'error' = no usable output, 'incomplete' =
 * the stream started (a chunk arrived) and was then cut.
 */
export function failed(sentMs: number, endMs: number, error: CallError, firstByteMs?: number): CallResult {
  return {
    status: 'error',
    error,
    sentMs,
    ...(firstByteMs !== undefined ? { firstByteMs } : {}),
    endMs,
    chunkMs: [],
    text: '',
    reasoning: '',
    toolCalls: [],
    quirks: [],
  };
}

/**
 * A server's finish_reason as records keep it: the known values are short words ("stop",
 * "length", "tool_calls", "abort"); anything longer is cut, so a server cannot fill the records.
 */
export function recordedFinishReason(reason: string): string {
  return reason.length > FINISH_REASON_MAX_CHARS ? `${reason.slice(0, FINISH_REASON_MAX_CHARS)}...` : reason;
}
export const FINISH_REASON_MAX_CHARS = 64;

export function countQuirks(req: CallRequest, res: CallResult): void {
  if (res.status !== 'ok') return;
  const u = res.usage;
  if (!u) {
    res.quirks.push('usage_missing');
    return;
  }
  const c = u.completionTokens;
  // a chunk carries at least one token; the server must honour max_tokens / min_tokens
  if (
    c < res.chunkMs.length ||
    (req.maxTokens !== undefined && c > req.maxTokens) ||
    (req.minTokens !== undefined &&
      res.finishReason !== 'abort' &&
      c < Math.min(req.minTokens, req.maxTokens ?? Infinity))
  )
    res.quirks.push('token_count_mismatch');
}

export function finishStream(
  req: CallRequest,
  st: StreamState,
  sentMs: number,
  headersMs: number | undefined,
  endMs: number,
  error: CallError | undefined,
): CallResult {
  const ans = normaliseAnswer({
    content: st.contentParts.join(''),
    contentNull: st.contentParts.length === 0,
    reasoningField: st.reasoningParts.join(''),
    toolCalls: toolCallsInOrder(st.tools),
    ...(st.finishReason !== undefined ? { finishReason: st.finishReason } : {}),
  });
  const started = st.firstChunkMs !== undefined;
  const res: CallResult = {
    status: error === undefined ? 'ok' : started ? 'incomplete' : 'error',
    ...(error ? { error } : {}),
    sentMs,
    ...(headersMs !== undefined ? { firstByteMs: headersMs } : {}),
    ...(st.firstChunkMs !== undefined ? { firstChunkMs: st.firstChunkMs } : {}),
    ...(st.firstTokenMs !== undefined ? { firstTokenMs: st.firstTokenMs } : {}),
    ...(st.lastTokenMs !== undefined ? { lastTokenMs: st.lastTokenMs } : {}),
    endMs,
    chunkMs: st.chunkMs,
    text: ans.text,
    reasoning: ans.reasoning,
    toolCalls: ans.toolCalls,
    ...(ans.finishReason !== undefined ? { finishReason: recordedFinishReason(ans.finishReason) } : {}),
    ...(st.usage ? { usage: st.usage } : {}),
    quirks: ans.quirks,
    ...(st.serverFirstTokenMs !== undefined ? { serverFirstTokenMs: st.serverFirstTokenMs } : {}),
  };
  // an error object in the stream before any token is a failed request, not a cut one
  if (error && st.firstTokenMs === undefined && error.kind !== 'aborted' && error.kind !== 'reset') {
    if (error.kind === 'server_error' || error.kind === 'context_length' || error.kind === 'rate_limited')
      res.status = 'error';
  }
  countQuirks(req, res);
  return res;
}

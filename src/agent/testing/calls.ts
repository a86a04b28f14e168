/** Fake LLM calls for the agent tests that drive programs without a server. */
import type { CallResult, Transport } from '../../loadgen/transport.js';

/** An ok call with no text, no tool calls and no usage, unless `partial` says otherwise. */
export function callResult(partial: Partial<CallResult> = {}): CallResult {
  return {
    status: 'ok',
    sentMs: 0,
    endMs: 1,
    chunkMs: [],
    text: '',
    reasoning: '',
    toolCalls: [],
    quirks: [],
    ...partial,
  };
}

/** A transport whose every call hangs until its signal aborts, then ends incomplete (kind aborted). */
export const hangingTransport: Transport = {
  call: (req) =>
    new Promise<CallResult>((resolve) => {
      req.signal?.addEventListener('abort', () =>
        resolve(
          callResult({
            status: 'incomplete',
            error: { kind: 'aborted', message: 'aborted', retryable: false },
          }),
        ),
      );
    }),
};

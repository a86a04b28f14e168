/**
 * Retries: connection errors (refused / reset / unreachable), 5xx and 429 with capped
 * exponential back-off and a cap on attempts. context_length and aborted are never retried.
 */
import type { CallResult, ErrorKind } from '../loadgen/transport.js';
import { type AgentClock, REAL_CLOCK } from './clock.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  capMs: number;
}

const RETRYABLE: ReadonlySet<ErrorKind> = new Set([
  'refused',
  'unreachable',
  'reset',
  'server_error',
  'rate_limited',
]);

export function isRetryable(r: CallResult): boolean {
  return r.status !== 'ok' && r.error !== undefined && RETRYABLE.has(r.error.kind);
}

export function backoffMs(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** retry);
}

/** A wait on the given clock (real time by default), ended early by the signal. */
export function sleep(ms: number, signal?: AbortSignal, clock: AgentClock = REAL_CLOCK): Promise<void> {
  return clock.sleep(ms, signal);
}

/** Calls until ok, a non-retryable failure, the attempt cap, or the signal aborts. */
export async function callWithRetry(
  attempt: () => Promise<CallResult>,
  policy: RetryPolicy,
  signal?: AbortSignal,
  /** back-off waits on this clock (virtual time in `servelab simulate`) */
  clock: AgentClock = REAL_CLOCK,
): Promise<{ result: CallResult; retries: number }> {
  let retries = 0;
  for (;;) {
    const result = await attempt();
    if (!isRetryable(result) || retries + 1 >= policy.maxAttempts || signal?.aborted)
      return { result, retries };
    await clock.sleep(backoffMs(policy, retries), signal);
    if (signal?.aborted) return { result, retries };
    retries++;
  }
}

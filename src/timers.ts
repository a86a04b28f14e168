/**
 * Timers from configured values. Node holds a delay in a signed 32-bit int: 2^31 ms (24.8 days)
 * or more, and NaN, become a 1 ms timer (with only a TimeoutOverflowWarning), so a "very long"
 * timeout fires at once. Every timer set from a config or flag value goes through here.
 * (Leaf module: imports nothing, so sim/ and every other module may use it.)
 */

/** The longest delay a Node timer holds: 2^31 - 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay a timer can hold: negative -> 0, longer than MAX_TIMER_MS (Infinity too) -> MAX_TIMER_MS.
 * NaN is a bug upstream (an unvalidated value): it throws instead of becoming 1 ms.
 */
export function safeTimeoutMs(ms: number): number {
  if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN (an unvalidated duration)');
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

/** setTimeout with the delay made safe (see safeTimeoutMs). */
export function setTimer(fn: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(fn, safeTimeoutMs(ms));
}

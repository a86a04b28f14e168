/**
 * Peak output throughput over full seconds: the most output tokens received in any 1-s
 * interval that lies wholly inside the measurement window (sliding, not aligned buckets: an
 * aligned last bucket holds less than a second, and a burst that straddles a bucket edge is
 * split, which is how a 1.65 s run reported a peak of 322 tok/s under its 363.6 tok/s mean).
 * A window shorter than 1 s holds no full second: no peak (null).
 */

/** One arrival of output tokens: ms since the window's start, and how many tokens. */
export interface TokenEvent {
  atMs: number;
  tokens: number;
}

export const PEAK_INTERVAL_MS = 1000;

export function peakTokensPerS(events: readonly TokenEvent[], windowMs: number): number | null {
  if (!(windowMs >= PEAK_INTERVAL_MS)) return null;
  const ev = events
    .filter((e) => e.tokens > 0)
    .slice()
    .sort((a, b) => a.atMs - b.atMs);
  const lastStart = windowMs - PEAK_INTERVAL_MS;
  // a busiest interval can be slid right until it starts at a token, or ends at the window's end
  const starts = ev.map((e) => Math.max(0, Math.min(e.atMs, lastStart)));
  starts.push(lastStart);
  let peak = 0;
  let sum = 0;
  let lo = 0;
  let hi = 0;
  for (const s of starts) {
    while (hi < ev.length && ev[hi]!.atMs <= s + PEAK_INTERVAL_MS) sum += ev[hi++]!.tokens;
    while (lo < hi && ev[lo]!.atMs < s) sum -= ev[lo++]!.tokens;
    if (sum > peak) peak = sum;
  }
  return peak;
}

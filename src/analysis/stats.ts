/**
 * Exact descriptive statistics over stored samples. Percentiles use linear interpolation
 * between closest ranks (numpy's default, which vLLM's bench uses), so figures match theirs.
 */

export interface Distribution {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  /** keyed by percentile, e.g. { 50: .., 90: .., 99: .. } */
  percentiles: Record<number, number>;
}

export const DEFAULT_PERCENTILES = [50, 90, 95, 99] as const;

/** p in [0, 100] over an ascending-sorted array; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return sorted[0]!;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

/** Full distribution; the input is not modified. Empty input gives count 0 and NaN figures. */
export function describe(
  values: ArrayLike<number>,
  percentiles: readonly number[] = DEFAULT_PERCENTILES,
): Distribution {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const mean = n ? sum / n : Number.NaN;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (sorted[i]! - mean) ** 2;
  const out: Record<number, number> = {};
  for (const p of percentiles) out[p] = percentileSorted(sorted, p);
  return {
    count: n,
    mean,
    // population std, as numpy's default (vLLM's bench)
    std: n ? Math.sqrt(sq / n) : Number.NaN,
    min: n ? sorted[0]! : Number.NaN,
    max: n ? sorted[n - 1]! : Number.NaN,
    percentiles: out,
  };
}

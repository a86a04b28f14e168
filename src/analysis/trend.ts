/**
 * Trend tests over a time series (pure): the Theil-Sen slope (median of pairwise slopes, robust
 * to outliers) and the Mann-Kendall test for a monotonic trend (two-sided, normal approximation
 * with the tie correction). Used by the soak scenario to call drift from per-slice figures.
 */

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface TheilSen {
  /** units of y per unit of t */
  slope: number;
  intercept: number;
}

/** Median of (y_j - y_i) / (t_j - t_i) over pairs with t_j != t_i; intercept median(y - slope t). */
export function theilSen(t: readonly number[], y: readonly number[]): TheilSen {
  const slopes: number[] = [];
  for (let i = 0; i < y.length; i++)
    for (let j = i + 1; j < y.length; j++) if (t[j] !== t[i]) slopes.push((y[j]! - y[i]!) / (t[j]! - t[i]!));
  const slope = slopes.length ? median(slopes) : 0;
  return { slope, intercept: median(y.map((v, i) => v - slope * t[i]!)) };
}

export interface MannKendall {
  n: number;
  /** S = sum over i < j of sign(y_j - y_i) */
  s: number;
  /** Var(S) with the tie correction */
  varS: number;
  /** continuity-corrected z */
  z: number;
  /** two-sided p-value (normal approximation; n < 3 gives 1) */
  p: number;
}

/** Mann-Kendall test of y in time order. */
export function mannKendall(y: readonly number[]): MannKendall {
  const n = y.length;
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += Math.sign(y[j]! - y[i]!);
  const ties = new Map<number, number>();
  for (const v of y) ties.set(v, (ties.get(v) ?? 0) + 1);
  let tieSum = 0;
  for (const c of ties.values()) if (c > 1) tieSum += c * (c - 1) * (2 * c + 5);
  const varS = (n * (n - 1) * (2 * n + 5) - tieSum) / 18;
  if (n < 3 || varS <= 0) return { n, s, varS, z: 0, p: 1 };
  const z = s > 0 ? (s - 1) / Math.sqrt(varS) : s < 0 ? (s + 1) / Math.sqrt(varS) : 0;
  return { n, s, varS, z, p: 2 * (1 - normalCdf(Math.abs(z))) };
}

export interface TrendOptions {
  /** significance level of the Mann-Kendall test */
  alpha: number;
  /** which direction is bad: latency and usage 'up', throughput 'down' */
  bad: 'up' | 'down';
  /** the smallest change over the run that matters, relative to the median (0.1 = 10 %) */
  tolerance: number;
  /** ... or at least this much in absolute units, whichever is larger (e.g. KV 0.05) */
  absFloor?: number;
}

export interface TrendResult {
  n: number;
  median: number;
  /** Theil-Sen slope per second */
  slopePerS: number;
  /** Theil-Sen change over the series' span: slope x (t_last - t_first) */
  change: number;
  /** change / |median| (null when the median is 0) */
  relChange: number | null;
  p: number;
  /** p < alpha */
  significant: boolean;
  /** significant, in the bad direction, and |change| >= max(tolerance x |median|, absFloor) */
  moves: boolean;
  /** the threshold |change| had to reach */
  threshold: number;
}

/** Mann-Kendall significance plus a Theil-Sen effect size: a trend must be both real and large. */
export function trend(tS: readonly number[], y: readonly number[], o: TrendOptions): TrendResult {
  const n = y.length;
  const med = median(y);
  const ts = theilSen(tS, y);
  const span = n > 1 ? tS[n - 1]! - tS[0]! : 0;
  const change = ts.slope * span;
  const mk = mannKendall(y);
  const threshold = Math.max(o.tolerance * Math.abs(med), o.absFloor ?? 0);
  const significant = mk.p < o.alpha;
  const badDir = o.bad === 'up' ? change > 0 : change < 0;
  return {
    n,
    median: med,
    slopePerS: ts.slope,
    change,
    relChange: med !== 0 && Number.isFinite(med) ? change / Math.abs(med) : null,
    p: mk.p,
    significant,
    moves: significant && badDir && Math.abs(change) >= threshold && threshold > 0,
    threshold,
  };
}

/**
 * Student's t distribution, 95 % confidence intervals and Welch's unequal-variance t-test.
 * The CDF goes through the regularised incomplete beta function (Lentz continued fraction,
 * as in Numerical Recipes); the quantile inverts it by bisection. Checked against scipy.
 */

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's). */
export function studentTCdf(t: number, df: number): number {
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0;
  const x = df / (df + t * t);
  const tail = 0.5 * incompleteBeta(x, df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** The q-quantile (0 < q < 1) of Student's t with `df` degrees of freedom. */
export function studentTQuantile(q: number, df: number): number {
  if (q === 0.5) return 0;
  if (q < 0.5) return -studentTQuantile(1 - q, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < q && hi < 1e12) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface MeanCI {
  n: number;
  mean: number;
  /** sample standard deviation (n - 1); NaN when n < 2 */
  sd: number;
  /** bounds of the two-sided confidence interval; NaN when n < 2 (no confidence can be given) */
  lo: number;
  hi: number;
  level: number;
}

/** Mean and two-sided Student-t confidence interval (default 95 %) of repeated measurements. */
export function meanCI(values: readonly number[], level = 0.95): MeanCI {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : Number.NaN;
  if (n < 2) return { n, mean, sd: Number.NaN, lo: Number.NaN, hi: Number.NaN, level };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = studentTQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, lo: mean - half, hi: mean + half, level };
}

export interface WelchResult {
  test: "Welch's t-test (two-sided, unequal variances)";
  t: number;
  df: number;
  p: number;
  /** p < alpha; false when the test cannot be run */
  significant: boolean;
  alpha: number;
  /** why the test could not be run (fewer than 2 values on a side) */
  reason?: string;
}

/** Welch's two-sided t-test of mean(a) = mean(b). Matches scipy.stats.ttest_ind(equal_var=False). */
export function welchTTest(a: readonly number[], b: readonly number[], alpha = 0.05): WelchResult {
  const test = "Welch's t-test (two-sided, unequal variances)" as const;
  const A = meanCI(a);
  const B = meanCI(b);
  if (A.n < 2 || B.n < 2) {
    return {
      test,
      t: Number.NaN,
      df: Number.NaN,
      p: Number.NaN,
      significant: false,
      alpha,
      reason: 'needs at least 2 repetitions on each side',
    };
  }
  const va = (A.sd * A.sd) / A.n;
  const vb = (B.sd * B.sd) / B.n;
  const se2 = va + vb;
  if (se2 === 0) {
    const same = A.mean === B.mean;
    return {
      test,
      t: same ? 0 : Number.POSITIVE_INFINITY,
      df: Number.NaN,
      p: same ? 1 : 0,
      significant: !same,
      alpha,
      reason: 'zero variance on both sides',
    };
  }
  const t = (A.mean - B.mean) / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (A.n - 1) + (vb * vb) / (B.n - 1));
  const p = 2 * (1 - studentTCdf(Math.abs(t), df));
  return { test, t, df, p, significant: p < alpha, alpha };
}

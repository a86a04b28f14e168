import { describe, expect, it } from 'vitest';
import { meanCI, studentTCdf, studentTQuantile, welchTTest } from './student-t.js';

// Reference values computed with scipy 1.17.1 / numpy 2.4.6:
//   stats.t.ppf(0.975, df); stats.t.cdf(1.5, 3);
//   stats.ttest_ind(a, b, equal_var=False); stats.t.interval(0.95, n-1, loc=mean, scale=stats.sem(x))
describe('Student t', () => {
  it('quantiles match scipy.stats.t.ppf(0.975, df)', () => {
    const ref: [number, number][] = [
      [1, 12.706204736174694],
      [2, 4.302652729749462],
      [4, 2.7764451051977934],
      [9, 2.262157162798205],
      [10, 2.228138851986274],
      [30, 2.0422724563012378],
    ];
    for (const [df, q] of ref) expect(studentTQuantile(0.975, df)).toBeCloseTo(q, 9);
  });
  it('cdf matches scipy.stats.t.cdf(1.5, 3)', () => {
    expect(studentTCdf(1.5, 3)).toBeCloseTo(0.8847080673775886, 12);
    expect(studentTCdf(0, 7)).toBe(0.5);
  });
  it('95 % CI matches scipy.stats.t.interval', () => {
    const ci = meanCI([3.77, 3.9, 3.6]);
    expect(ci.mean).toBeCloseTo(3.7566666666666664, 12);
    expect(ci.lo).toBeCloseTo(3.382943579516641, 9);
    expect(ci.hi).toBeCloseTo(4.130389753816692, 9);
  });
  it('one value: no interval', () => {
    const ci = meanCI([3.77]);
    expect(ci.n).toBe(1);
    expect(Number.isNaN(ci.lo)).toBe(true);
  });
  it("Welch's test matches scipy.stats.ttest_ind(equal_var=False)", () => {
    const r = welchTTest([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]);
    expect(r.t).toBeCloseTo(-1.8973665961010275, 12);
    expect(r.df).toBeCloseTo(5.882352941176471, 12);
    expect(r.p).toBeCloseTo(0.10753119493062728, 9);
    expect(r.significant).toBe(false);
    const s = welchTTest([3.77, 3.9, 3.6], [3.36, 3.4, 3.3]);
    expect(s.t).toBeCloseTo(4.403640877743378, 10);
    expect(s.df).toBeCloseTo(2.4421775556588563, 10);
    expect(s.p).toBeCloseTo(0.03287918539334988, 9);
    expect(s.significant).toBe(true);
  });
  it('refuses with one repetition', () => {
    const r = welchTTest([1], [2, 3]);
    expect(r.significant).toBe(false);
    expect(r.reason).toMatch(/2 repetitions/);
  });
});

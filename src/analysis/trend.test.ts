/** Trend tests and the knee rule against values computed by hand. */
import { describe, expect, it } from 'vitest';
import { findKnee, type LoadLevel } from './knee.js';
import { mannKendall, normalCdf, theilSen, trend } from './trend.js';

describe('trend tests (by hand)', () => {
  it('normal CDF', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.96)).toBeCloseTo(0.975, 4);
    expect(normalCdf(-1.96)).toBeCloseTo(0.025, 4);
  });

  it('Mann-Kendall: a strictly rising series of 5', () => {
    // S = 10 pairs all rising; Var = 5*4*15/18 = 16.667; z = (10-1)/sqrt(16.667) = 2.2045; p = 2(1 - Phi(z)) = 0.0275
    const mk = mannKendall([1, 2, 3, 4, 5]);
    expect(mk.s).toBe(10);
    expect(mk.varS).toBeCloseTo(16.6667, 3);
    expect(mk.z).toBeCloseTo(2.2045, 3);
    expect(mk.p).toBeCloseTo(0.0275, 3);
  });

  it('Mann-Kendall: ties correct the variance', () => {
    // [1,1,2]: S = 0 + 1 + 1 = 2; Var = (3*2*11 - 2*1*9)/18 = 48/18; z = 1/sqrt(2.667) = 0.612
    const mk = mannKendall([1, 1, 2]);
    expect(mk.s).toBe(2);
    expect(mk.varS).toBeCloseTo(48 / 18, 9);
    expect(mk.z).toBeCloseTo(0.6124, 3);
    expect(mannKendall([3, 3, 3, 3]).p).toBe(1);
  });

  it('Theil-Sen: the median of pairwise slopes ignores the outlier', () => {
    // slopes (2-0)/1 = 2, (10-0)/2 = 5, (10-2)/1 = 8 -> 5; intercept median(0, 2-5, 10-10) = 0
    expect(theilSen([0, 1, 2], [0, 2, 10])).toEqual({ slope: 5, intercept: 0 });
    const ts = theilSen([0, 1, 2, 3, 4], [1, 2, 3, 4, 100]);
    expect(ts.slope).toBe(1);
  });

  it('a trend moves only when significant, in the bad direction, and at least the tolerance', () => {
    const t = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const rising = t.map((x) => 100 + 2 * x); // +18 over the run, median 109: +16.5 %
    expect(trend(t, rising, { alpha: 0.01, bad: 'up', tolerance: 0.1 }).moves).toBe(true);
    expect(trend(t, rising, { alpha: 0.01, bad: 'up', tolerance: 0.2 }).moves).toBe(false);
    expect(trend(t, rising, { alpha: 0.01, bad: 'down', tolerance: 0.1 }).moves).toBe(false);
    const r = trend(t, rising, { alpha: 0.01, bad: 'up', tolerance: 0.1 });
    expect(r.change).toBeCloseTo(18, 9);
    expect(r.slopePerS).toBe(2);
    // alternating noise: no trend
    const noise = t.map((x) => 100 + (x % 2 ? 5 : -5));
    expect(trend(t, noise, { alpha: 0.01, bad: 'up', tolerance: 0.01 }).significant).toBe(false);
    // absolute floor: a KV rise of 0.03 is below a 0.05 floor even though it is +30 %
    const kv = t.map((x) => 0.1 + 0.003 * x + 0.0001);
    expect(trend(t, kv, { alpha: 0.01, bad: 'up', tolerance: 0.05, absFloor: 0.05 }).moves).toBe(false);
  });
});

describe('knee rule (by hand)', () => {
  const lv = (load: number, tok: number, extra: Partial<LoadLevel> = {}): LoadLevel => ({
    load,
    label: `c=${load}`,
    outputTokensPerS: tok,
    requestsPerS: tok / 100,
    ...extra,
  });

  it('throughput that stops growing: the knee is the level before', () => {
    const k = findKnee([lv(1, 100), lv(2, 190), lv(4, 360), lv(8, 370)]);
    // 360 -> 370 is +2.8 % < 5 %
    expect(k).toMatchObject({ saturated: true, knee: 2, at: 3, rule: 'throughput' });
    expect(k.reason).toContain('knee at c=4');
  });

  it('queueing: mean waiting >= 25 % of the requests in flight', () => {
    const k = findKnee([
      lv(8, 100, { meanInFlight: 8, meanWaiting: 0 }),
      lv(16, 190, { meanInFlight: 16, meanWaiting: 3.9 }), // 3.9 < 4
      lv(32, 300, { meanInFlight: 32, meanWaiting: 8 }), // 8 >= 8
    ]);
    expect(k).toMatchObject({ knee: 1, at: 2, rule: 'queueing' });
  });

  it('an SLO that breaks; a first level already past saturation has no knee', () => {
    expect(
      findKnee([lv(1, 100, { sloOk: true }), lv(2, 200, { sloOk: false, sloWhy: 'ttft' })]),
    ).toMatchObject({
      knee: 0,
      rule: 'slo',
    });
    expect(findKnee([lv(1, 100, { sloOk: false })])).toMatchObject({ saturated: true, knee: null, at: 0 });
    expect(findKnee([lv(1, 100), lv(2, 200)])).toMatchObject({ saturated: false, knee: null });
  });
});

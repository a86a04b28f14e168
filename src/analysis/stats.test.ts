import { expect, it, describe as suite } from 'vitest';
import { describe, percentileSorted } from './stats.js';

suite('stats', () => {
  it('interpolates percentiles like numpy', () => {
    // numpy.percentile([1,2,3,4], [50, 90, 99]) = [2.5, 3.7, 3.97]
    const s = [1, 2, 3, 4];
    expect(percentileSorted(s, 50)).toBeCloseTo(2.5, 12);
    expect(percentileSorted(s, 90)).toBeCloseTo(3.7, 12);
    expect(percentileSorted(s, 99)).toBeCloseTo(3.97, 12);
  });

  it('describes a distribution with population std', () => {
    const d = describe([4, 1, 3, 2]);
    expect(d.count).toBe(4);
    expect(d.mean).toBe(2.5);
    expect(d.std).toBeCloseTo(Math.sqrt(1.25), 12);
    expect(d.min).toBe(1);
    expect(d.max).toBe(4);
    expect(d.percentiles[50]).toBe(2.5);
  });

  it('gives NaN for empty input instead of throwing', () => {
    const d = describe([]);
    expect(d.count).toBe(0);
    expect(Number.isNaN(d.mean)).toBe(true);
    expect(Number.isNaN(d.percentiles[99]!)).toBe(true);
  });
});

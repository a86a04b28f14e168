import { describe, expect, it } from 'vitest';
import { arrivalOffsetsMs, arrivalsFromFlags, describeArrivals } from './arrivals.js';

function gaps(o: Float64Array): number[] {
  return Array.from(o)
    .slice(1)
    .map((t, k) => t - o[k]!);
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const cv = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2))) / m;
};

describe('arrival processes', () => {
  it('describe themselves', () => {
    expect(describeArrivals(arrivalsFromFlags({ requestRate: 4 }))).toBe('poisson@4.00/s');
    expect(describeArrivals(arrivalsFromFlags({ requestRate: 4, burstiness: 0.5 }))).toBe(
      'gamma(b=0.5)@4.00/s',
    );
    expect(describeArrivals(arrivalsFromFlags({ requestRate: 2, constant: true }))).toBe('constant@2.00/s');
    expect(describeArrivals(arrivalsFromFlags({ maxConcurrency: 64 }))).toBe('closed(c=64)');
    expect(describeArrivals(arrivalsFromFlags({ requestRate: 4, maxConcurrency: 8 }))).toBe(
      'poisson@4.00/s,c<=8',
    );
    expect(describeArrivals(arrivalsFromFlags({}))).toBe('burst@inf/s');
    expect(() => arrivalsFromFlags({ requestRate: -1 })).toThrow(/--request-rate/);
    expect(() => arrivalsFromFlags({ requestRate: 1, burstiness: 0 })).toThrow(/--burstiness/);
    expect(() => arrivalsFromFlags({ maxConcurrency: 1.5 })).toThrow(/--max-concurrency/);
  });

  it('poisson: seeded, mean gap 1/rate, CV 1', () => {
    const a = arrivalOffsetsMs({ kind: 'poisson', ratePerSec: 10 }, 1, 20_000);
    expect(a).toEqual(arrivalOffsetsMs({ kind: 'poisson', ratePerSec: 10 }, 1, 20_000));
    expect(a[0]).toBe(0);
    const g = gaps(a);
    expect(mean(g)).toBeGreaterThan(97);
    expect(mean(g)).toBeLessThan(103);
    expect(cv(g)).toBeGreaterThan(0.97);
    expect(cv(g)).toBeLessThan(1.03);
    expect(arrivalOffsetsMs({ kind: 'poisson', ratePerSec: 10 }, 2, 5)).not.toEqual(a.slice(0, 5));
  });

  it('gamma: mean gap 1/rate, CV 1/sqrt(burstiness)', () => {
    for (const b of [0.25, 4]) {
      const g = gaps(arrivalOffsetsMs({ kind: 'gamma', ratePerSec: 5, burstiness: b }, 3, 20_000));
      expect(mean(g) / 200).toBeGreaterThan(0.96);
      expect(mean(g) / 200).toBeLessThan(1.04);
      expect(cv(g) * Math.sqrt(b)).toBeGreaterThan(0.95);
      expect(cv(g) * Math.sqrt(b)).toBeLessThan(1.05);
    }
  });

  it('constant is evenly spaced; duration bounds the schedule; closed loop has none', () => {
    expect(Array.from(arrivalOffsetsMs({ kind: 'constant', ratePerSec: 4 }, 0, 4))).toEqual([
      0, 250, 500, 750,
    ]);
    expect(arrivalOffsetsMs({ kind: 'constant', ratePerSec: 10 }, 0, 1e9, 1000)).toHaveLength(11);
    expect(arrivalOffsetsMs({ kind: 'closed', concurrency: 4 }, 0, 10)).toHaveLength(0);
    expect(Array.from(arrivalOffsetsMs({ kind: 'burst' }, 0, 3))).toEqual([0, 0, 0]);
  });
});

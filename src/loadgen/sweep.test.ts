/** The sweep's pure parts: stage seeds, the automatic sweep's rates, the --sweep syntax. */
import { describe, expect, it } from 'vitest';
import { autoRates, parseSweep, pastSaturation, stageSeed } from './sweep.js';

describe('sweep stages', () => {
  it('stage 0 draws with the bench seed, later stages with their own (deterministic)', () => {
    expect(stageSeed(5, 0)).toBe(5);
    expect(stageSeed(5, 1)).not.toBe(5);
    expect(stageSeed(5, 1)).toBe(stageSeed(5, 1));
    expect(stageSeed(5, 2)).not.toBe(stageSeed(5, 1));
  });

  it('auto rates are evenly spaced between the synchronous and the max throughput (by hand)', () => {
    expect(autoRates(2, 8, 2)).toEqual([4, 6]);
    expect(autoRates(1, 13, 5)).toEqual([3, 5, 7, 9, 11]);
    expect(autoRates(5, 5, 3)).toEqual([]);
  });

  it('past saturation: throughput stopped growing, or reached the closed-loop maximum', () => {
    expect(pastSaturation(undefined, 5, 10)).toBeUndefined();
    expect(pastSaturation(5, 5.1, 10)).toMatch(/stopped growing/);
    expect(pastSaturation(5, 9.8, 10)).toMatch(/reached the maximum/);
    expect(pastSaturation(5, 6, 10)).toBeUndefined();
  });

  it('--sweep syntax: rates, concurrencies, auto[:N]', () => {
    expect(parseSweep('c1,c2', {})).toEqual({
      kind: 'list',
      stages: [
        { kind: 'closed', concurrency: 1 },
        { kind: 'closed', concurrency: 2 },
      ],
    });
    expect(parseSweep('auto:3', { maxConcurrency: 32 })).toEqual({
      kind: 'auto',
      rates: 3,
      maxConcurrency: 32,
    });
    expect(() => parseSweep('x,y', {})).toThrow(/--sweep "x,y"/);
  });
});

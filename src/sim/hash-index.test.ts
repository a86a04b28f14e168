import { describe, expect, it } from 'vitest';
import { HashIndex } from './hash-index.js';

describe('HashIndex', () => {
  it('agrees with a Map under random inserts and deletes, colliding keys included', () => {
    const h = new HashIndex(64);
    const ref = new Map<number, number>();
    let s = 1;
    const rnd = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s;
    };
    for (let step = 0; step < 5000; step++) {
      // few distinct low bits -> long probe runs and wrap-around
      const key = (rnd() % 8) * 4294967296 + (rnd() % 200);
      if (rnd() % 3 === 0 || ref.size >= 64) {
        expect(h.delete(key)).toBe(ref.delete(key));
      } else {
        h.set(key, step);
        ref.set(key, step);
      }
      expect(h.size).toBe(ref.size);
    }
    for (const [k, v] of ref) expect(h.get(k)).toBe(v);
    expect(h.get(123456789)).toBe(-1);
    h.clear();
    expect(h.size).toBe(0);
  });
});

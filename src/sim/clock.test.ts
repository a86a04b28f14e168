import { describe, expect, it } from 'vitest';
import { RealClock, VirtualClock } from './clock.js';

describe('VirtualClock', () => {
  it('runs events in time order, ties in scheduling order, and jumps time', () => {
    const c = new VirtualClock(100);
    const log: string[] = [];
    c.schedule(130, () => log.push(`b@${c.nowMs()}`));
    c.schedule(110, () => log.push(`a@${c.nowMs()}`));
    c.schedule(130, () => log.push(`c@${c.nowMs()}`));
    const cancel = c.schedule(120, () => log.push('cancelled'));
    cancel();
    c.runUntilIdle();
    expect(log).toEqual(['a@110', 'b@130', 'c@130']);
    expect(c.nowMs()).toBe(130);
  });

  it('runUntil stops at the limit and exposes the fast-forward horizon', () => {
    const c = new VirtualClock();
    const log: number[] = [];
    c.schedule(5, () => {
      log.push(c.nowMs());
      expect(c.horizonMs()).toBe(8);
      c.schedule(12, () => log.push(c.nowMs()));
    });
    c.runUntil(8);
    expect(log).toEqual([5]);
    expect(c.nowMs()).toBe(8);
    expect(c.horizonMs()).toBe(12);
    expect(c.pending).toBe(1);
    c.runUntil(20);
    expect(log).toEqual([5, 12]);
  });

  it('ignores a cancel after the event ran', () => {
    const c = new VirtualClock();
    const cancel = c.schedule(1, () => {});
    c.schedule(2, () => {});
    c.runUntil(1);
    cancel();
    expect(c.pending).toBe(1);
    expect(c.horizonMs()).toBe(2);
  });

  it('clamps events scheduled in the past to now', () => {
    const c = new VirtualClock(50);
    let at = -1;
    c.schedule(10, () => {
      at = c.nowMs();
    });
    c.runUntilIdle();
    expect(at).toBe(50);
  });
});

describe('RealClock', () => {
  it('fires events in order, close to their time', async () => {
    const c = new RealClock(0);
    const late: number[] = [];
    c.onLateness = (ms) => late.push(ms);
    const order: number[] = [];
    const t0 = c.nowMs();
    await new Promise<void>((resolve) => {
      for (const d of [30, 10, 20]) c.schedule(t0 + d, () => order.push(d));
      c.schedule(t0 + 40, resolve);
    });
    expect(order).toEqual([10, 20, 30]);
    expect(late.length).toBe(4);
    for (const l of late) {
      expect(l).toBeGreaterThan(-0.51);
      // generous: the shared CI box can stall a timer for tens of ms
      expect(l).toBeLessThan(250);
    }
  });

  it('cancels', async () => {
    const c = new RealClock();
    let ran = false;
    const cancel = c.schedule(c.nowMs() + 5, () => {
      ran = true;
    });
    cancel();
    await new Promise((r) => setTimeout(r, 15));
    expect(ran).toBe(false);
  });
});

/** A cancelled virtual-clock event releases its closure at once (not when its time comes). */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from './clock.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

describe('VirtualClock.schedule cancel', () => {
  it('drops what the cancelled event captured (a timeout an hour ahead must not keep a call alive)', async () => {
    const clock = new VirtualClock(0);
    // the array is reachable only through the event's closure
    const arm = () => {
      const big = new Array(100_000).fill(1);
      return { ref: new WeakRef(big), cancel: clock.schedule(3_600_000, () => void big.length) };
    };
    const { ref, cancel } = arm();
    cancel();
    // let the test's own references go, then collect
    await new Promise((r) => setTimeout(r, 0));
    gc();
    expect(ref.deref()).toBeUndefined();
    // the clock still works: a later event runs, the cancelled one never does
    let ran = 0;
    clock.schedule(10, () => ran++);
    clock.runUntil(4_000_000);
    expect(ran).toBe(1);
  });
});

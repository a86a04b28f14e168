/**
 * The real-time clock the HTTP front drives engines with (performance.now() and timers), and a
 * wrapper that measures how late each scheduled event fires (the front benchmark's step lateness).
 */
import type { Clock } from '../engine-api.js';

export type LatenessRecorder = (latenessMs: number) => void;

export function realTimeClock(): Clock {
  return {
    nowMs: () => performance.now(),
    schedule(atMs, fn) {
      const t = setTimeout(fn, Math.max(0, atMs - performance.now()));
      return () => clearTimeout(t);
    },
  };
}

export function measuredClock(inner: Clock, record: LatenessRecorder): Clock {
  return {
    nowMs: () => inner.nowMs(),
    schedule(atMs, fn) {
      return inner.schedule(atMs, () => {
        record(inner.nowMs() - atMs);
        fn();
      });
    },
  };
}

/**
 * The agent layer's time: now, sleeps and timers come from an injected clock, so the same
 * programs, retries and driver run in real time (the default) and in virtual time (a
 * simulated engine's event clock, `servelab simulate`). Structural over the simulator's
 * `{nowMs, schedule}` so agent/ does not import sim/.
 */
import { setTimer } from '../timers.js';

export interface AgentClock {
  /** ms on the records' time base (monotonic) */
  now(): number;
  /** fn after ms; returns a cancel (a cancel after it ran is a no-op) */
  after(ms: number, fn: () => void): () => void;
  /** fn every ms until cancelled */
  every(ms: number, fn: () => void): () => void;
  /** resolves after ms, or early when the signal aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** performance.timeOrigin + performance.now(): the records' real-time base. */
export const monotonicNow = (): number => performance.timeOrigin + performance.now();

function sleepWith(clock: Pick<AgentClock, 'after'>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const cancel = clock.after(ms, done);
    function done() {
      cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Real time: node timers (delays made safe, timers.ts); intervals do not hold the process. */
export function realClock(now: () => number = monotonicNow): AgentClock {
  const clock: AgentClock = {
    now,
    after(ms, fn) {
      const t = setTimer(fn, ms);
      return () => clearTimeout(t);
    },
    every(ms, fn) {
      const t = setInterval(fn, Math.max(1, ms));
      t.unref();
      return () => clearInterval(t);
    },
    sleep: (ms, signal) => sleepWith(clock, ms, signal),
  };
  return clock;
}

/** The default real clock (records on performance.timeOrigin + performance.now()). */
export const REAL_CLOCK: AgentClock = realClock();

/** An event scheduler's clock (the simulator's VirtualClock, or any `{nowMs, schedule}`). */
export interface EventScheduler {
  nowMs(): number;
  schedule(atMs: number, fn: () => void): () => void;
}

/** Virtual time: every wait is an event on the scheduler; nothing waits for real. */
export function schedulerClock(s: EventScheduler): AgentClock {
  const after = (ms: number, fn: () => void): (() => void) => {
    let fired = false;
    const cancel = s.schedule(s.nowMs() + Math.max(0, ms), () => {
      fired = true;
      fn();
    });
    // the simulator's VirtualClock counts a cancel after the event ran as one event less
    return () => {
      if (!fired) cancel();
    };
  };
  const clock: AgentClock = {
    now: () => s.nowMs(),
    after,
    every(ms, fn) {
      let cancel = () => {};
      let stopped = false;
      const arm = () => {
        cancel = after(Math.max(1, ms), () => {
          if (stopped) return;
          arm();
          fn();
        });
      };
      arm();
      return () => {
        stopped = true;
        cancel();
      };
    },
    sleep: (ms, signal) => sleepWith(clock, ms, signal),
  };
  return clock;
}

import { describe, expect, it } from 'vitest';
import { createSimTransport } from '../loadgen/sim-transport.js';
import { VirtualClock } from '../sim/clock.js';
import { schedulerClock } from './clock.js';
import { driveCell } from './driver.js';
import { callWithRetry } from './retry.js';
import { callResult, hangingTransport } from './testing/calls.js';
import { liveItems, testProgramContext } from './testing/program-context.js';

/** Runs work on a virtual clock: time moves only when every promise waits (sim-transport's drive). */
function virtual() {
  const vc = new VirtualClock(1_000_000);
  const t = createSimTransport({ clock: vc, services: () => undefined });
  return { vc, clock: schedulerClock(vc), drive: <T>(w: Promise<T>) => t.drive(w) };
}

describe('the agent layer on an injected clock', () => {
  it('retry back-off waits in virtual time: attempts at 0, 1 s, 3 s, no real waiting', async () => {
    const { clock, drive } = virtual();
    const at: number[] = [];
    const wall0 = performance.now();
    const out = await drive(
      callWithRetry(
        async () => {
          at.push(clock.now() - 1_000_000);
          return at.length < 3
            ? callResult({
                status: 'error',
                error: { kind: 'server_error', message: '503', retryable: true },
              })
            : callResult({ text: 'ok' });
        },
        { maxAttempts: 5, baseMs: 1000, capMs: 60_000 },
        undefined,
        clock,
      ),
    );
    expect(out.retries).toBe(2);
    expect(at).toEqual([0, 1000, 3000]);
    expect(performance.now() - wall0).toBeLessThan(1000);
  });

  it("the driver's watchdog and the task deadline run on the clock: 10 virtual minutes in well under a real second", async () => {
    const { clock, drive } = virtual();
    const notes: string[] = [];
    const tasks: { status: string; reason?: string; ms: number }[] = [];
    const items = liveItems(1, 2);
    const wall0 = performance.now();
    await drive(
      driveCell({
        items,
        concurrency: 2,
        graceMs: 20,
        watchdogMs: 60_000,
        onTask: (t) =>
          tasks.push({
            status: t.status,
            ...(t.reason ? { reason: t.reason } : {}),
            ms: t.endMs - t.startMs,
          }),
        ctx: testProgramContext(hangingTransport, {
          limits: { maxTaskTimeMs: 600_000, callTimeoutMs: 0 },
          now: clock.now,
          clock,
          onNote: (n) => notes.push(n),
        }),
      }),
    );
    expect(performance.now() - wall0).toBeLessThan(5000);
    expect(tasks).toEqual([
      { status: 'failed', reason: 'timeout', ms: 600_000 },
      { status: 'failed', reason: 'timeout', ms: 600_000 },
    ]);
    expect(notes.filter((n) => /watchdog: task \S+ made no progress for 6\d s/.test(n))).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../sim/clock.js';
import { syntheticItems } from '../workload/synthetic.js';
import { type RequestTemplate, requestFor } from './requests.js';
import { runStage } from './run-stage.js';
import { createSimTransport } from './sim-transport.js';
import { simTarget } from './testing/sim-target.js';

/** the in-process target, with a fixed step time if given */
const setup = (stepTimeMs?: number) => simTarget(stepTimeMs !== undefined ? { engine: { stepTimeMs } } : {});
const items = syntheticItems({
  count: 20,
  input: { kind: 'fixed', value: 200 },
  output: { kind: 'fixed', value: 30 },
  seed: 4,
});

/** 40 requests, 8 at a time, through the in-process transport in virtual time */
function closedLoop40(sim: ReturnType<typeof setup>['sim'], tpl: RequestTemplate) {
  return runStage({
    items,
    template: tpl,
    arrivals: { kind: 'closed', concurrency: 8 },
    seed: 0,
    numPrompts: 40,
    transport: sim,
    virtual: sim,
  });
}

describe('the in-process simulator transport (virtual time)', () => {
  it('a closed loop runs in virtual time with exact token counts and real-looking latencies', async () => {
    const { sim, tpl } = setup();
    const r = await closedLoop40(sim, tpl);
    expect(r.summary.counts).toMatchObject({ ok: 40, error: 0, incomplete: 0 });
    expect(r.summary.total_output_tokens).toBe(40 * 30);
    expect(r.outcome.maxInFlight).toBe(8);
    const rec = r.records[0]!;
    expect(rec.chunkOffsetsMs.length).toBe(30);
    expect(rec.firstTokenMs! - rec.sentMs).toBeGreaterThan(0);
    expect(rec.serverFirstTokenMs).toBe(rec.firstTokenMs);
    expect(r.summary.latency.scheduleLagMs.max).toBe(0);
    expect(r.summary.latency.tpotMs.mean).toBeGreaterThan(1);
  });

  it('never sleeps: 100 ms steps add up to seconds of simulated time, not of wall time', async () => {
    const { sim, tpl } = setup(100);
    const wall0 = performance.now();
    const r = await closedLoop40(sim, tpl);
    const wallMs = performance.now() - wall0;
    expect(r.summary.counts.ok).toBe(40);
    // 5 waves of 8 requests x 30 decode steps (+ prefill) x 100 ms: at least 15 simulated seconds
    const simulatedMs = r.outcome.endMs - r.outcome.startMs;
    expect(simulatedMs).toBeGreaterThanOrEqual(15_000);
    // had it slept through the steps, the wall time would be at least the simulated time
    expect(wallMs).toBeLessThan(simulatedMs / 3);
  });

  it('an open loop keeps its schedule exactly (no lag in virtual time)', async () => {
    const { sim, tpl } = setup();
    const r = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'poisson', ratePerSec: 5 },
      seed: 2,
      numPrompts: 20,
      transport: sim,
      virtual: sim,
    });
    expect(r.summary.counts.ok).toBe(20);
    expect(r.summary.latency.scheduleLagMs.max).toBe(0);
    expect(r.summary.durationS).toBeGreaterThan(1);
  });

  it('timeouts are exact in virtual time; a hang without a timeout is ended, not hung', async () => {
    const { sim, tpl } = setup();
    const call = (fault: string, over = {}) =>
      sim.drive(
        sim.call({ ...requestFor(items[0]!, tpl), extraHeaders: { 'x-servelab-fault': fault }, ...over }),
      );
    // each fault on its own: transport-contract.test.ts; here what only virtual time has
    const slow = await call('slow_first_token;500');
    expect(slow.firstTokenMs! - slow.sentMs).toBeGreaterThanOrEqual(500);
    const h = await call('hang', { timeouts: { totalMs: 1000 } });
    expect(h.endMs - h.sentMs).toBe(1000);
    expect((await call('hang')).error?.kind).toBe('timeout_total');
    const n = await sim.drive(sim.call({ ...requestFor(items[0]!, tpl), stream: false }));
    expect(n.error?.message).toBeUndefined();
    expect(n).toMatchObject({ status: 'ok', usage: { completionTokens: 30 } });
  });
});

describe('drive (the virtual clock loop)', () => {
  it('runs every continuation of an instant, however deep, before time moves on; real timers still fire during a long drive', async () => {
    const clock = new VirtualClock(0);
    const sim = createSimTransport({ clock, services: () => undefined });
    const seen: [number, number][] = [];
    let timerFired = -1;
    setTimeout(() => {
      timerFired = clock.nowMs();
    }, 0);
    // 3,000 instants; at each, a 200-deep await chain ends by reading the clock and scheduling
    // the next instant (in real time at once: a new virtual event at the same instant runs before
    // the clock moves on, too)
    const deep = async (n: number): Promise<void> => {
      if (n > 0) await deep(n - 1);
    };
    // other events half an instant later: a loop that moved on too early would run them first
    for (let t = 1; t <= 3000; t++) clock.schedule(t + 0.5, () => undefined);
    const work = (async () => {
      for (let t = 1; t <= 3000; t++) {
        await new Promise<void>((r) => clock.schedule(t, r));
        await deep(200);
        const at = clock.nowMs();
        await new Promise<void>((r) => clock.schedule(at, r));
        seen.push([t, clock.nowMs()]);
      }
      return 'done';
    })();
    expect(await sim.drive(work)).toBe('done');
    expect(seen.every(([t, now]) => t === now)).toBe(true);
    expect(seen).toHaveLength(3000);
    // the event loop was let in while the drive ran, not only after it
    expect(timerFired).toBeGreaterThanOrEqual(0);
    expect(timerFired).toBeLessThan(3000);
  });
});

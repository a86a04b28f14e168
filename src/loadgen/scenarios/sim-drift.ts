/**
 * The injected slow leak of the soak tests and benchmark: the simulated engine's step time grows
 * linearly with the engine clock, `pctPerMin` percent per minute (a server that gets slower as
 * it runs: fragmentation, a growing Python heap, a leaking cache). It wraps the roofline model
 * through the engine's `stepTimeFn` option, so the simulator itself is unchanged; virtual-time
 * fast-forward reads the factor at the start of each fast-forwarded run of steps.
 *
 * The second, server-side creep users do not see at first: a KV block leak (`leakKvBlocks`), one
 * in N blocks a request frees never returns to the free queue (the block pool's opt-in
 * `leakOneIn`), so KV usage creeps up while latency stays flat until the cache runs short.
 */
import { BlockPool } from '../../sim/block-pool.js';
import { createEngine, type EngineOptions, engineStepTime, type SimEngine } from '../../sim/engine.js';
import type { Clock } from '../../sim/engine-api.js';
import type { EngineFactory } from '../../sim/server/index.js';
import type { StepTimeFn } from '../../sim/step-time.js';

export function driftingStepTime(base: StepTimeFn, nowMs: () => number, pctPerMin: number): StepTimeFn {
  const t0 = nowMs();
  const k = pctPerMin / 100 / 60_000;
  return (tokens, sampling, batch, sumKv, sumAttn2) =>
    base(tokens, sampling, batch, sumKv, sumAttn2) * (1 + k * Math.max(0, nowMs() - t0));
}

/** An engine whose roofline step time drifts by pctPerMin (0: the plain engine). */
export function createDriftingEngine(opts: EngineOptions, clock: Clock, pctPerMin: number): SimEngine {
  if (!pctPerMin) return createEngine(opts, clock);
  const base = engineStepTime(opts);
  return createEngine({ ...opts, stepTimeFn: driftingStepTime(base, () => clock.nowMs(), pctPerMin) }, clock);
}

/**
 * Turn on the block pool's leak in an engine: one in `oneIn` freed blocks is lost. The pool is
 * the engine's own (not on its public interface: this is a fault injection for tests and
 * benchmarks), checked to be a BlockPool so a refactor of the engine fails here, loudly.
 */
export function leakKvBlocks(engine: SimEngine, oneIn: number): BlockPool {
  if (!Number.isInteger(oneIn) || oneIn < 1)
    throw new RangeError(`leak one block in N: N must be an integer >= 1, got ${oneIn}`);
  const pool = (engine as unknown as { sched?: { pool?: unknown } }).sched?.pool;
  if (!(pool instanceof BlockPool))
    throw new Error('leakKvBlocks: the engine has no BlockPool at sched.pool');
  pool.leakOneIn = oneIn;
  return pool;
}

/** For startSimServers (the embedded HTTP simulator of `servelab bench --sim-step-drift`). */
export function driftingEngineFactory(pctPerMin: number): EngineFactory {
  return (o, clock) => {
    // every option the server passes, undefined ones left out (the engine's defaults apply)
    const opts = Object.fromEntries(
      Object.entries(o).filter(([, v]) => v !== undefined),
    ) as unknown as EngineOptions;
    return createDriftingEngine(opts, clock, pctPerMin);
  };
}

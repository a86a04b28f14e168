/**
 * Scenarios on the in-process simulator in virtual time (tests, bench/scenarios.ts): the engine,
 * the service, a SimTransport, and a level runner whose server samples come from the engine's
 * own snapshot (the figures its /metrics page shows) on the virtual clock.
 */
import { VirtualClock } from '../../sim/clock.js';
import type { EngineOptions, SimEngine } from '../../sim/engine.js';
import { SimService } from '../../sim/service.js';
import type { RequestTemplate } from '../requests.js';
import { createSimTransport, type SimTransport } from '../sim-transport.js';
import { type LevelRunnerOptions, levelRunner, type RunLevel } from './level.js';
import { createDriftingEngine, leakKvBlocks } from './sim-drift.js';

export interface VirtualSim {
  clock: VirtualClock;
  engine: SimEngine;
  service: SimService;
  transport: SimTransport;
  template: RequestTemplate;
  maxModelLen: number;
  /** a level runner on this simulator; `extra` adds to / overrides its options */
  runner(extra?: Partial<LevelRunnerOptions>): RunLevel;
}

export function virtualSim(o: {
  engine: EngineOptions;
  seed?: number;
  /** the injected slow leak: step time + pctPerMin % per minute (sim-drift.ts) */
  stepDriftPctPerMin?: number;
  /** the injected KV block leak: one in N freed blocks is never freed (sim-drift.ts) */
  kvLeakOneIn?: number;
  sampleIntervalMs?: number;
}): VirtualSim {
  const clock = new VirtualClock(1_000_000);
  const engine = createDriftingEngine(o.engine, clock, o.stepDriftPctPerMin ?? 0);
  if (o.kvLeakOneIn) leakKvBlocks(engine, o.kvLeakOneIn);
  const service = new SimService({ engine, clock, seed: o.seed ?? 1 });
  const transport = createSimTransport({ clock, services: service });
  const template: RequestTemplate = {
    endpoint: { baseUrl: 'sim://virtual/v1', model: service.modelName },
    api: 'chat',
    stream: true,
    minTokens: true,
    ignoreEos: false,
  };
  return {
    clock,
    engine,
    service,
    transport,
    template,
    maxModelLen: engine.config.maxModelLen,
    runner: (extra = {}) =>
      levelRunner({
        template,
        seed: o.seed ?? 1,
        transport,
        virtual: transport,
        clock: { now: transport.now, sleepUntil: transport.sleepUntil },
        sampleServer: async () => {
          const s = engine.snapshot();
          return {
            kvUsage: s.kvUsageFrac,
            running: s.running,
            waiting: s.waiting,
            preemptions: s.counters.preemptions,
          };
        },
        sampleIntervalMs: o.sampleIntervalMs ?? 1000,
        ...extra,
      }),
  };
}

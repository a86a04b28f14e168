import { join } from 'node:path';
import { scrubFiles } from '../config/secrets.js';
import type { Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LaunchedServers } from '../launch/launcher.js';
import type { ArrivalSpec } from '../loadgen/arrivals.js';
import type { LiveCounters } from '../loadgen/dispatcher.js';
import type { GpuStats, LevelRequest, LevelResult, RunLevel } from '../loadgen/scenarios/level.js';
import { type BenchRunBase, benchCellContext } from './bench-series.js';
import { launchCellServers, runCell } from './cell.js';
import { KeptServers } from './kept-servers.js';
import { type Cell, planExperiment } from './plan.js';
import type { DrivenStage } from './request-driver.js';

/** The bench spec's levels come per request (`spec` has one arm, one server config). */
export interface BenchLevelsOptions extends BenchRunBase {
  /** the client's memory now (the CLI passes process.memoryUsage) */
  sampleClient?: () => { rss: number; heapUsed: number };
  /** GPU figures over [startUnixMs, endUnixMs] (DCGM through Prometheus) */
  gpu?: (startUnixMs: number, endUnixMs: number) => Promise<GpuStats | undefined>;
  /** a level starts driving: its live counters (the progress line) */
  onLevelStart?: (index: number, req: LevelRequest) => LiveCounters | undefined;
  onLevelEnd?: (res: LevelResult) => void;
}

export interface BenchLevels {
  /** the RunLevel every scenario drives */
  run: RunLevel;
  /** starts the kept servers now, before the first level (the scenario asks them for max_model_len) */
  start(): Promise<LaunchedServers>;
  /** stops the kept servers (once) */
  close(): Promise<void>;
}

/** The spec of one level: its arrivals' load as the spec's only load level. */
export function levelSpec(spec: Spec, a: ArrivalSpec): Spec {
  if (a.kind === 'closed') return { ...spec, concurrency: [a.concurrency], rates: undefined };
  if (a.kind === 'burst') return { ...spec, concurrency: undefined, rates: ['inf'] };
  return { ...spec, concurrency: undefined, rates: [a.ratePerSec] };
}

/** The scenario's levels as cells; see the file comment. */
export function benchLevels(o: BenchLevelsOptions): BenchLevels {
  const kept = new KeptServers(join(o.dir, 'logs'));
  let index = 0;
  let current: { req: LevelRequest; counters?: LiveCounters; driven?: DrivenStage } | undefined;
  const cx = benchCellContext(o, {
    // a scenario chooses its next level from the last one: the number of levels is not known
    matrix: () => ({ cellIndex: index, cellCount: index + 1, finishedCellsS: [] }),
    keptServers: kept,
    requestSeries: {
      runDir: o.runDir,
      kvPath: join(o.dir, 'kv_timeseries.csv'),
      stageOf: () => index,
      warmupOf: () => 0,
      counters: () => current?.counters,
      levelOf: () => {
        const req = current?.req;
        if (!req) return undefined;
        return {
          arrivals: req.arrivals,
          items: req.items,
          ...(req.numPrompts !== undefined ? { numPrompts: req.numPrompts } : {}),
          ...(req.durationMs !== undefined ? { durationMs: req.durationMs } : {}),
          description: `${req.label}: ${req.items.length} prompts`,
        };
      },
      ...(o.sampleClient ? { sampleClient: o.sampleClient } : {}),
      onDriven: (_cell, d) => {
        if (current) current.driven = d;
      },
    },
  });
  const planCell = (a: ArrivalSpec, k: number): Cell => {
    const cell = planExperiment(levelSpec(o.spec, a), 'real', { levelOffset: k }).cells[0];
    if (!cell) throw new Error('bench level: the plan has no cell');
    return cell;
  };
  return {
    start: () =>
      kept.acquire('series', () => {
        o.log(
          `starting ${o.spec.servers[o.spec.arms[0]!.servers]?.kind ?? ''} servers, kept for every stage`,
        );
        // the launch of a cell (the first level's servers), before the first level
        const { keptServers: _, ...alone } = cx;
        return launchCellServers(alone, planCell({ kind: 'burst' }, 0), kept.logsDir, o.log);
      }),
    async close() {
      await kept.stop();
      scrubFiles(kept.logsDir, o.secrets);
    },
    run: async (req) => {
      const k = index;
      const cell = planCell(req.arrivals, k);
      current = { req };
      const counters = o.onLevelStart?.(k, req);
      if (counters) current.counters = counters;
      let r: Awaited<ReturnType<typeof runCell>>;
      try {
        r = await runCell(cx, cell, join(o.dir, 'stages', String(k)));
      } finally {
        index++;
      }
      const driven = current.driven;
      current = undefined;
      if (!r.stage || !driven) {
        const f = r.failure;
        throw new ServelabError(
          f?.phase === 'launch' ? 'LAUNCH_FAILED' : 'BAD_CONFIG',
          `stage ${k + 1} (${req.label}) ${r.status === 'interrupted' ? 'was interrupted' : 'failed'}${f ? ` in its ${f.phase} phase: ${f.message}` : ' before it drove any request'}`,
          { hint: f?.hint ?? `its cell record: ${join(o.dir, 'stages', String(k), 'cell.json')}` },
        );
      }
      const res: LevelResult = {
        index: k,
        label: req.label,
        stage: r.stage,
        server: driven.server,
        client: driven.client,
      };
      if (o.gpu) {
        const g = await o.gpu(driven.startUnixMs, driven.endUnixMs).catch(() => undefined);
        if (g) res.gpu = g;
      }
      o.onLevelEnd?.(res);
      return res;
    },
  };
}

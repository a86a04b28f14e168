/**
 * A load scenario's levels (`servelab bench --scenario ramp|grid|soak|slo`) as cells of the
 * bench spec: each LevelRequest the scenario asks for (loadgen/scenarios/level.ts `RunLevel`)
 * is planned by the one planner (plan.ts: its arrivals' load as the spec's one concurrency or
 * rate) and run by the one cell runner (cell.ts) into the scenario's one run directory, its cell
 * record under stages/<k>/cell.json, with the level's own arrivals, prompts and count or
 * duration (RequestSeries.levelOf: a grid changes the lengths per level). What a level gives
 * back beyond the stage comes from the same drive phase: the servers' gauges per /metrics tick
 * and the client's memory, on the stage's clock, and GPU figures over the stage's window.
 *
 * The servers are kept across the levels (experiment/kept-servers.ts): started once, before the
 * first level, and stopped at close(), as a vLLM engineer runs a ramp against one warm server
 * and a soak measures one server's uptime; every cell.json says so (`serversKept`).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { monotonicNow } from '../agent/clock.js';
import { type SecretRegistry, scrubFiles } from '../config/secrets.js';
import type { Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LaunchedServers } from '../launch/launcher.js';
import type { ArrivalSpec } from '../loadgen/arrivals.js';
import type { LiveCounters } from '../loadgen/dispatcher.js';
import type { BenchRunDir } from '../loadgen/run-dir.js';
import type { GpuStats, LevelRequest, LevelResult, RunLevel } from '../loadgen/scenarios/level.js';
import type { EnvironmentJson } from '../rundir/run-dir.js';
import type { StartSimOptions } from '../sim/server/index.js';
import { SERVELAB_VERSION } from '../version.js';
import { type CellRunContext, launchCellServers, runCell } from './cell.js';
import { KeptServers } from './kept-servers.js';
import { type Cell, planExperiment } from './plan.js';
import type { DrivenStage } from './request-driver.js';

export interface BenchLevelsOptions {
  /** the bench spec: one arm, one server config, a request workload (its levels come per request) */
  spec: Spec;
  baseDir: string;
  /** the scenario's run directory (already holding run.json: `runDir`) */
  dir: string;
  runDir: BenchRunDir;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log: (line: string) => void;
  secrets: SecretRegistry;
  apiKey?: string;
  simOverrides?: Partial<StartSimOptions>;
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
  const environment = {
    v: 1,
    servelabVersion: SERVELAB_VERSION,
    node: process.version,
    platform: process.platform,
    host: hostname(),
    servers: [],
    mode: 'real',
  } as EnvironmentJson;
  let index = 0;
  let current: { req: LevelRequest; counters?: LiveCounters; driven?: DrivenStage } | undefined;
  const cx: CellRunContext = {
    spec: o.spec,
    baseDir: o.baseDir,
    runDir: o.dir,
    env: o.env,
    ...(o.signal ? { signal: o.signal } : {}),
    log: o.log,
    secrets: o.secrets,
    ...(o.apiKey ? { apiKey: o.apiKey } : {}),
    environment,
    ...(o.simOverrides ? { simOverrides: o.simOverrides } : {}),
    now: monotonicNow,
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
  };
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

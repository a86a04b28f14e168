/**
 * A bench run: the cells of a request-stream spec with one arm and one server config, run by
 * the one planner (plan.ts) and the one cell runner (cell.ts) into ONE bench run directory
 * (docs/FORMATS.md: run.json, requests.jsonl of every stage, kv_timeseries.csv; each stage's
 * cell record under stages/<k>/). `servelab bench` is this: its flags are a spec
 * (cli/commands/bench-spec.ts), its stages are cells. What a bench adds to a plain list of load
 * levels is the automatic sweep (`--sweep auto[:N]`): a synchronous and a max-throughput probe
 * first, then N Poisson rates between their throughputs, planned from what the probes measured,
 * stopping once the server is past saturation.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { monotonicNow } from '../agent/clock.js';
import type { SecretRegistry } from '../config/secrets.js';
import type { Spec } from '../config/spec.js';
import type { TimeMode } from '../launch/registry.js';
import type { ArrivalSpec } from '../loadgen/arrivals.js';
import type { LiveCounters } from '../loadgen/dispatcher.js';
import type { BenchRunDir } from '../loadgen/run-dir.js';
import type { StageResult } from '../loadgen/run-stage.js';
import { autoRates, pastSaturation } from '../loadgen/sweep.js';
import type { EnvironmentJson } from '../rundir/run-dir.js';
import type { StartSimOptions } from '../sim/server/index.js';
import { SERVELAB_VERSION } from '../version.js';
import { type CellResult, type CellRunContext, runCell } from './cell.js';
import { type Cell, planExperiment } from './plan.js';

/** What every bench run's cells share (a series of stages, a scenario's levels). */
export interface BenchRunBase {
  /** one arm, one server config, request workload */
  spec: Spec;
  baseDir: string;
  /** the bench run directory (already holding run.json: `runDir`) */
  dir: string;
  runDir: BenchRunDir;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log: (line: string) => void;
  secrets: SecretRegistry;
  apiKey?: string;
  simOverrides?: Partial<StartSimOptions>;
  /** real time (default: `servelab bench`) or virtual time (the simulator in-process) */
  mode?: TimeMode;
}

/** The cell runner's context of a bench run's cells: the run's parts, and how its cells run. */
export function benchCellContext(
  o: BenchRunBase,
  how: Pick<CellRunContext, 'matrix' | 'requestSeries' | 'keptServers'>,
): CellRunContext {
  const environment = {
    v: 1,
    servelabVersion: SERVELAB_VERSION,
    node: process.version,
    platform: process.platform,
    host: hostname(),
    servers: [],
    mode: o.mode ?? 'real',
  } as EnvironmentJson;
  return {
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
    ...how,
  };
}

export interface BenchSeriesOptions extends BenchRunBase {
  /** instead of the spec's levels: the automatic sweep */
  auto?: { rates: number; maxConcurrency: number };
  /** a stage starts driving (k of planned, its arrivals, its request count): its live counters */
  onStageStart?: (
    stage: number,
    planned: number,
    arrivals: ArrivalSpec,
    requests: number | undefined,
  ) => LiveCounters | undefined;
  onStageEnd?: (res: StageResult) => void;
}

export interface BenchSeriesResult {
  stages: StageResult[];
  /** why an automatic sweep stopped before its last planned stage */
  stoppedEarly?: string;
  /** a stage that failed (its servers did not start, a bad spec): the run stopped there */
  failed?: CellResult;
  interrupted: boolean;
}

/** Runs the series; see the file comment. */
export async function runBenchSeries(o: BenchSeriesOptions): Promise<BenchSeriesResult> {
  const stages: StageResult[] = [];
  let stage = 0;
  let planned = 0;
  const warmup = o.spec.workload.requests?.warmup ?? 0;
  const cx = benchCellContext(o, {
    matrix: () => ({ cellIndex: stage, cellCount: planned, finishedCellsS: [] }),
    requestSeries: {
      runDir: o.runDir,
      kvPath: join(o.dir, 'kv_timeseries.csv'),
      stageOf: () => stage,
      // warm-up only before the first stage (the server is warm for the later ones)
      warmupOf: () => (stage === 0 ? warmup : 0),
      counters: (_cell, arrivals, requests) => o.onStageStart?.(stage, planned, arrivals, requests),
    },
  });
  const result = (extra: Partial<BenchSeriesResult> = {}): BenchSeriesResult => ({
    stages,
    interrupted: o.signal?.aborted === true,
    ...extra,
  });
  /** runs the cells of one plan; a failed cell ends the series */
  const runCells = async (
    cells: readonly Cell[],
    after?: (res: StageResult) => string | undefined,
  ): Promise<Partial<BenchSeriesResult> | undefined> => {
    for (const cell of cells) {
      if (o.signal?.aborted) return {};
      const r = await runCell(cx, cell, join(o.dir, 'stages', String(stage)));
      if (r.stage) {
        stages.push(r.stage);
        o.onStageEnd?.(r.stage);
      }
      stage++;
      if (r.status === 'failed') return { failed: r };
      if (r.status === 'interrupted') return {};
      const why = r.stage && after ? after(r.stage) : undefined;
      if (why) return { stoppedEarly: why };
    }
    return undefined;
  };
  if (!o.auto) {
    const cells = planExperiment(o.spec, o.mode).cells;
    planned = cells.length;
    return result((await runCells(cells)) ?? {});
  }
  // the automatic sweep: two probes, then rates between their throughputs
  const { rates: n, maxConcurrency } = o.auto;
  planned = 2 + n;
  const probes = planExperiment(
    { ...o.spec, concurrency: [1, maxConcurrency], rates: undefined },
    o.mode,
  ).cells;
  const cut = await runCells(probes);
  if (cut) return result(cut);
  const [sync, max] = stages;
  const syncRps = sync?.summary.throughput.requestsPerS ?? 0;
  const maxRps = max?.summary.throughput.requestsPerS ?? 0;
  const rates = autoRates(syncRps, maxRps, n);
  if (rates.length === 0)
    return result({
      stoppedEarly: `no rates between the probes: max throughput ${maxRps.toFixed(2)} req/s is not above the synchronous ${syncRps.toFixed(2)} req/s`,
    });
  planned = 2 + rates.length;
  const rateCells = planExperiment({ ...o.spec, concurrency: undefined, rates }, o.mode, {
    levelOffset: 2,
  }).cells;
  let prev: number | undefined;
  const stop = await runCells(rateCells, (res) => {
    const rps = res.summary.throughput.requestsPerS;
    const why = pastSaturation(prev, rps, maxRps);
    prev = rps;
    return why ? `stopped after ${res.arrivals}: ${why}` : undefined;
  });
  return result(stop ?? {});
}

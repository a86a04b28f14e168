/**
 * One load level of a scenario (ramp step, grid cell, soak, SLO probe): the `RunLevel` seam the
 * scenarios drive, and what a level gives back: one bench stage, plus the server's queue / KV /
 * preemption counter and the client's memory sampled on the stage's own clock, plus GPU figures
 * when a source is given. `servelab bench --scenario` runs each level as a cell of the bench
 * spec (experiment/bench-levels.ts: the one planner and cell runner); `levelRunner` here runs
 * levels on the in-process simulator in virtual time (virtual.ts: tests, bench/scenarios.ts),
 * sampling the engine itself. Every record goes out through `onRecord` as it completes.
 */
import type { WorkloadItem } from '../../workload/item.js';
import { type ArrivalSpec, concurrencyCap, describeArrivals } from '../arrivals.js';
import type { LiveCounters } from '../dispatcher.js';
import type { RequestRecord } from '../records.js';
import type { RequestTemplate } from '../requests.js';
import { runStage, type StageOptions, type StageResult, stagePassThrough } from '../run-stage.js';
import type { ServerPoint } from '../server-metrics.js';
import type { GoodputSlo } from '../summary.js';
import type { Transport } from '../transport.js';

/** the server's gauges at one tick (loadgen/server-metrics.ts reads them during a stage) */
export type { ServerPoint } from '../server-metrics.js';

export interface ClientPoint {
  tMs: number;
  rssBytes: number;
  heapUsedBytes: number;
}

/** GPU figures over a level (DCGM through Prometheus). */
export interface GpuStats {
  source: string;
  gpus: number;
  utilMeanPct?: number;
  utilMaxPct?: number;
  fbUsedMaxMiB?: number;
}

export interface LevelRequest {
  arrivals: ArrivalSpec;
  items: WorkloadItem[];
  numPrompts?: number;
  durationMs?: number;
  /** e.g. "c=64", "prompt 8000 x output 128" */
  label: string;
}

export interface LevelResult {
  /** the stage index (the records' `stage`) */
  index: number;
  label: string;
  stage: StageResult;
  server: ServerPoint[];
  client: ClientPoint[];
  gpu?: GpuStats;
}

export type RunLevel = (req: LevelRequest) => Promise<LevelResult>;

export interface ScenarioClock {
  now(): number;
  sleepUntil(atMs: number, signal?: AbortSignal): Promise<void>;
}

export interface LevelRunnerOptions {
  template: RequestTemplate;
  seed: number;
  transport?: Transport;
  virtual?: StageOptions['virtual'];
  /** worker threads for a level (0 = this thread) */
  workers?: (a: ArrivalSpec) => number;
  signal?: AbortSignal;
  graceMs?: number;
  percentiles?: readonly number[];
  goodput?: GoodputSlo;
  onRecord?: (r: RequestRecord) => void;
  clock: ScenarioClock;
  /** the server's gauges now; undefined when it has no metrics */
  sampleServer?: () => Promise<Omit<ServerPoint, 'tMs'> | undefined>;
  /** the client's memory now (the CLI passes process.memoryUsage) */
  sampleClient?: () => { rss: number; heapUsed: number };
  sampleIntervalMs: number;
  /** GPU figures over [startUnixMs, endUnixMs] */
  gpu?: (startUnixMs: number, endUnixMs: number) => Promise<GpuStats | undefined>;
  onLevelStart?: (
    index: number,
    req: LevelRequest,
  ) => LiveCounters | undefined | Promise<LiveCounters | undefined>;
  onLevelEnd?: (res: LevelResult) => void | Promise<void>;
}

/** A RunLevel on a given transport and clock (virtual.ts); stage indices count up from `firstStage`. */
export function levelRunner(o: LevelRunnerOptions, firstStage = 0): RunLevel {
  let next = firstStage;
  return async (req) => {
    const index = next++;
    const counters = await o.onLevelStart?.(index, req);
    const server: ServerPoint[] = [];
    const client: ClientPoint[] = [];
    const stop = new AbortController();
    const sampling = (async () => {
      if (!o.sampleServer && !o.sampleClient) return;
      let at = o.clock.now();
      while (!stop.signal.aborted) {
        const tMs = o.clock.now();
        if (o.sampleClient) {
          const m = o.sampleClient();
          client.push({ tMs, rssBytes: m.rss, heapUsedBytes: m.heapUsed });
        }
        if (o.sampleServer) {
          const p = await o.sampleServer().catch(() => undefined);
          if (p) server.push({ tMs, ...p });
        }
        at += o.sampleIntervalMs;
        await o.clock.sleepUntil(Math.max(at, o.clock.now()), stop.signal);
      }
    })();
    const startUnixMs = Date.now();
    let stage: StageResult;
    try {
      stage = await runStage({
        items: req.items,
        template: o.template,
        arrivals: req.arrivals,
        seed: o.seed + index,
        ...(req.numPrompts !== undefined ? { numPrompts: req.numPrompts } : {}),
        ...(req.durationMs !== undefined ? { durationMs: req.durationMs } : {}),
        stage: index,
        workers: o.workers ? o.workers(req.arrivals) : 0,
        ...stagePassThrough(o, counters),
      });
    } finally {
      stop.abort();
      await sampling;
    }
    const res: LevelResult = { index, label: req.label, stage, server, client };
    if (o.gpu) {
      const g = await o.gpu(startUnixMs, Date.now()).catch(() => undefined);
      if (g) res.gpu = g;
    }
    await o.onLevelEnd?.(res);
    return res;
  };
}

/** The headline figures of a level, as the scenario tables and summary.json show them. */
export interface LevelRow {
  stage: number;
  label: string;
  arrivals: string;
  /** concurrency (closed loop) or rate (req/s) */
  load: number;
  ok: number;
  measured: number;
  requestsPerS: number;
  outputTokensPerS: number;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  tpotP50Ms: number | null;
  tpotP99Ms: number | null;
  e2eP50Ms: number | null;
  e2eP99Ms: number | null;
  meanInFlight: number;
  /** server: mean waiting requests and KV usage over the level's samples */
  meanWaiting?: number;
  meanKvUsage?: number;
  preemptions?: number;
  gpu?: GpuStats;
}

/** The load value of an arrival process: its concurrency (closed) or rate. */
export function loadOf(a: ArrivalSpec): number {
  if (a.kind === 'closed') return a.concurrency;
  if (a.kind === 'burst') return concurrencyCap(a) ?? Number.POSITIVE_INFINITY;
  return a.ratePerSec;
}

const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? null : x);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

export function levelRow(r: LevelResult): LevelRow {
  const s = r.stage.summary;
  const L = s.latency;
  const waits = r.server.flatMap((p) => (p.waiting !== undefined ? [p.waiting] : []));
  const kvs = r.server.flatMap((p) => (p.kvUsage !== undefined ? [p.kvUsage] : []));
  const pre = r.server.flatMap((p) => (p.preemptions !== undefined ? [p.preemptions] : []));
  const row: LevelRow = {
    stage: r.index,
    label: r.label,
    arrivals: describeArrivals(r.stage.spec),
    load: loadOf(r.stage.spec),
    ok: s.counts.ok,
    measured: s.counts.measured,
    requestsPerS: s.throughput.requestsPerS,
    outputTokensPerS: s.throughput.outputTokensPerS,
    ttftP50Ms: num(L.ttftMs.percentiles[50]),
    ttftP99Ms: num(L.ttftMs.percentiles[99]),
    tpotP50Ms: num(L.tpotMs.percentiles[50]),
    tpotP99Ms: num(L.tpotMs.percentiles[99]),
    e2eP50Ms: num(L.e2eMs.percentiles[50]),
    e2eP99Ms: num(L.e2eMs.percentiles[99]),
    meanInFlight: r.stage.outcome.meanInFlight,
  };
  const w = mean(waits);
  if (w !== undefined) row.meanWaiting = w;
  const k = mean(kvs);
  if (k !== undefined) row.meanKvUsage = k;
  if (pre.length >= 2) row.preemptions = pre.at(-1)! - pre[0]!;
  if (r.gpu) row.gpu = r.gpu;
  return row;
}

/**
 * `servelab bench --scenario ramp|grid|soak|slo` against a server over HTTP (the embedded
 * simulator when no --base-url is given): the level runner with /metrics samples, the per-stage
 * server probe (kv_timeseries.csv, metric deltas), DCGM GPU figures when a Prometheus is given,
 * a live progress line per stage. The CLI parses the flags and writes the files.
 */
import { join } from 'node:path';
import { request } from 'undici';
import { ServelabError } from '../../errors.js';
import { fetchMetrics } from '../../metrics/fetch.js';
import type { WorkloadItem } from '../../workload/item.js';
import type { ArrivalSpec } from '../arrivals.js';
import { type LiveCounters, newCounters } from '../dispatcher.js';
import { formatProgress } from '../progress.js';
import type { RequestRecord } from '../records.js';
import type { RequestTemplate } from '../requests.js';
import type { StageResult } from '../run-stage.js';
import { probeServerMetrics, type ServerMetricsProbe } from '../server-metrics.js';
import type { SloThreshold } from '../slo.js';
import type { GoodputSlo } from '../summary.js';
import { describeStage } from '../sweep-table.js';
import type { ScenarioResult } from './format.js';
import { dcgmGpuStats } from './gpu.js';
import { GRID_DEFAULT_OUTPUTS, GRID_DEFAULT_PROMPTS, runGrid } from './grid.js';
import { levelRunner, realClock } from './level.js';
import { doublingLevels, rampRequests, runRamp } from './ramp.js';
import { runSloSearch } from './slo-search.js';
import { runSoak, SOAK_DEFAULTS, type SoakLoad, soakLoadFromRamp } from './soak.js';

export const SCENARIOS = ['ramp', 'grid', 'soak', 'slo'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioRunOptions {
  scenario: string;
  base: string;
  apiKey?: string;
  template: RequestTemplate;
  seed: number;
  /** the bench's arrival process from --request-rate / --max-concurrency (burst when neither) */
  arrivals: ArrivalSpec;
  maxConcurrency?: number;
  requestRate?: number;
  numPrompts?: number;
  durationMs?: number;
  /** ramp: --levels (closed loops or rates) */
  levels?: ArrivalSpec[];
  gridPrompts?: number[];
  gridOutputs?: number[];
  sliceMs?: number;
  kneeTolerance?: number;
  trendAlpha?: number;
  trendTolerance?: number;
  slo?: SloThreshold[];
  maxErrorShare: number;
  /** the prompts of level k, `count` of them */
  items: (k: number, count: number) => WorkloadItem[];
  workers?: (a: ArrivalSpec) => number;
  signal?: AbortSignal;
  graceMs?: number;
  percentiles?: readonly number[];
  goodput?: GoodputSlo;
  onRecord: (r: RequestRecord) => void;
  runDir: string;
  serverMetrics: boolean;
  metricsIntervalMs: number;
  prometheusUrl?: string;
  memory?: () => { rss: number; heapUsed: number };
  log: (line: string) => void;
  /** a progress line; `final` ends it */
  progress?: (text: string, final: boolean) => void;
}

export interface ScenarioRun {
  result: ScenarioResult;
  stages: StageResult[];
}

/** The server's max_model_len from /v1/models (vLLM lists it), or undefined. */
export async function serverMaxModelLen(
  base: string,
  model: string,
  apiKey?: string,
): Promise<number | undefined> {
  try {
    const res = await request(`${base}/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const body = (await res.body.json()) as { data?: { id?: string; max_model_len?: number }[] };
    const m = body.data?.find((d) => d.id === model) ?? body.data?.[0];
    return typeof m?.max_model_len === 'number' ? m.max_model_len : undefined;
  } catch {
    return undefined;
  }
}

function bad(msg: string, hint: string): ServelabError {
  return new ServelabError('BAD_FLAG', msg, { hint });
}

export async function runScenario(o: ScenarioRunOptions): Promise<ScenarioRun> {
  if (!(SCENARIOS as readonly string[]).includes(o.scenario))
    throw bad(`--scenario "${o.scenario}" is not known`, `use one of ${SCENARIOS.join(', ')}`);
  const scenario = o.scenario as ScenarioName;
  const stages: StageResult[] = [];
  let probe: ServerMetricsProbe | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let counters: LiveCounters = newCounters();
  const run = levelRunner({
    template: o.template,
    seed: o.seed,
    ...(o.workers ? { workers: o.workers } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
    ...(o.percentiles ? { percentiles: o.percentiles } : {}),
    ...(o.goodput ? { goodput: o.goodput } : {}),
    onRecord: o.onRecord,
    clock: realClock,
    ...(o.serverMetrics
      ? {
          sampleServer: async () => {
            const c = (await fetchMetrics(o.base, { timeoutMs: 3000 })).combined;
            return {
              ...(c.kvUsageFrac !== undefined ? { kvUsage: c.kvUsageFrac } : {}),
              ...(c.running !== undefined ? { running: c.running } : {}),
              ...(c.waiting !== undefined ? { waiting: c.waiting } : {}),
              ...(c.preemptions !== undefined ? { preemptions: c.preemptions } : {}),
            };
          },
        }
      : {}),
    ...(o.memory ? { sampleClient: o.memory } : {}),
    sampleIntervalMs: o.metricsIntervalMs,
    ...(o.prometheusUrl ? { gpu: dcgmGpuStats(o.prometheusUrl) } : {}),
    onLevelStart: async (index, req) => {
      o.log(`stage ${index + 1}: ${req.label} (${describeStage(req.arrivals)})`);
      if (o.serverMetrics)
        probe = await probeServerMetrics({
          targets: [{ url: o.base, port: Number(new URL(o.base).port || 80) }],
          csvPath: join(o.runDir, 'kv_timeseries.csv'),
          intervalMs: o.metricsIntervalMs,
          note: o.log,
        });
      counters = newCounters();
      const start = performance.now();
      const total = req.durationMs !== undefined ? undefined : req.numPrompts;
      if (o.progress) {
        const p = o.progress;
        const show = (final: boolean) =>
          p(
            formatProgress(counters, total, (performance.now() - start) / 1000, `[stage ${index + 1}] `),
            final,
          );
        timer = setInterval(() => show(false), 1000);
        timer.unref?.();
        stopProgress = () => show(true);
      }
      return counters;
    },
    onLevelEnd: async (res) => {
      if (timer) clearInterval(timer);
      timer = undefined;
      stopProgress?.();
      stopProgress = undefined;
      const delta = await probe?.stop();
      probe = undefined;
      if (delta) {
        res.stage.summary.server = delta;
        if (delta.serverMeanInFlight !== undefined)
          res.stage.summary.littleLaw.serverMeanInFlight = delta.serverMeanInFlight;
      }
      stages.push(res.stage);
    },
  });
  let stopProgress: (() => void) | undefined;
  const signal = o.signal ? { signal: o.signal } : {};
  const slo = o.slo ? { slo: o.slo } : {};
  try {
    const result = await dispatchScenario();
    return { result, stages };
  } finally {
    if (timer) clearInterval(timer);
    await probe?.stop();
  }

  async function dispatchScenario(): Promise<ScenarioResult> {
    switch (scenario) {
      case 'ramp': {
        const levels = o.levels ?? doublingLevels(o.maxConcurrency ?? 256);
        const per = o.numPrompts !== undefined ? () => o.numPrompts! : rampRequests(50);
        return runRamp(run, {
          levels,
          items: (k) => o.items(k, per(levels[k]!)),
          ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : { requests: per }),
          ...slo,
          maxErrorShare: o.maxErrorShare,
          knee: o.kneeTolerance !== undefined ? { tolerance: o.kneeTolerance } : {},
          ...signal,
        });
      }
      case 'grid': {
        const arrivals: ArrivalSpec =
          o.arrivals.kind === 'burst' && o.arrivals.maxConcurrency === undefined
            ? { kind: 'closed', concurrency: 8 }
            : o.arrivals;
        const maxModelLen = await serverMaxModelLen(o.base, o.template.endpoint.model, o.apiKey);
        if (maxModelLen === undefined)
          o.log('the server did not say its max_model_len (/v1/models): no grid cell is skipped for length');
        return runGrid(run, {
          prompts: o.gridPrompts ?? GRID_DEFAULT_PROMPTS,
          outputs: o.gridOutputs ?? GRID_DEFAULT_OUTPUTS,
          ...(maxModelLen !== undefined ? { maxModelLen } : {}),
          arrivals,
          requestsPerCell: o.numPrompts ?? 32,
          seed: o.seed,
          ...slo,
          maxErrorShare: o.maxErrorShare,
          ...signal,
        });
      }
      case 'soak': {
        if (o.durationMs === undefined)
          throw bad(
            '--scenario soak needs --duration',
            'e.g. --scenario soak --duration 3600 --max-concurrency 64',
          );
        const sliceMs = o.sliceMs ?? o.durationMs / SOAK_DEFAULTS.slices;
        if (o.durationMs / sliceMs < 6)
          throw bad(
            `--slice ${sliceMs / 1000} s gives ${Math.floor(o.durationMs / sliceMs)} slices of --duration ${o.durationMs / 1000} s`,
            'the trend test needs at least 6 slices (default: 20 slices of the duration)',
          );
        // no sustained load given: a quick closed-loop ramp first, then soak at 90 % of its knee
        let arrivals = o.arrivals;
        let load: SoakLoad | undefined;
        if (arrivals.kind === 'burst') {
          o.log(
            'soak: no --max-concurrency / --request-rate: a quick ramp first (c = 1, 2, 4 ... 256) to find the knee',
          );
          const levels = o.levels ?? doublingLevels(256);
          const per = rampRequests(20);
          const ramp = await runRamp(run, {
            levels,
            items: (k) => o.items(k, per(levels[k]!)),
            requests: per,
            maxErrorShare: o.maxErrorShare,
            knee: o.kneeTolerance !== undefined ? { tolerance: o.kneeTolerance } : {},
            ...signal,
          });
          load = soakLoadFromRamp(ramp);
          o.log(`soak: ${ramp.knee.reason}; soaking at ${load.why}`);
          arrivals = { kind: 'closed', concurrency: load.concurrency };
        }
        return runSoak(run, {
          arrivals,
          ...(load ? { load } : {}),
          // fresh prompts after the ramp's levels (the prefix cache does not answer the soak)
          items: o.items(load ? load.ramp.levels.length : 0, o.numPrompts ?? 1000),
          durationMs: o.durationMs,
          sliceMs,
          ...(o.trendAlpha !== undefined ? { alpha: o.trendAlpha } : {}),
          ...(o.trendTolerance !== undefined ? { tolerance: o.trendTolerance } : {}),
        });
      }
      case 'slo': {
        if (!o.slo)
          throw bad('--scenario slo needs --slo', 'e.g. --scenario slo --slo ttft:P99<2000ms,tpot:P99<50ms');
        const byRate = o.requestRate !== undefined && Number.isFinite(o.requestRate);
        const per = o.numPrompts !== undefined ? () => o.numPrompts! : rampRequests(50);
        return runSloSearch(run, {
          over: byRate ? 'rate' : 'concurrency',
          start: byRate ? o.requestRate! : 1,
          max: byRate ? o.requestRate! * 1024 : (o.maxConcurrency ?? 1024),
          slo: o.slo,
          maxErrorShare: o.maxErrorShare,
          items: (k, a) => o.items(k, per(a)),
          requests: per,
          ...(byRate && o.maxConcurrency !== undefined ? { maxConcurrency: o.maxConcurrency } : {}),
          ...signal,
        });
      }
    }
  }
}

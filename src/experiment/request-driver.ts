/**
 * The request-stream driver: the drive phase of a cell whose workload is `requests` (the bench
 * datasets and W3 suites), beside the agent driver. One load level (a closed loop at C, Poisson /
 * gamma / constant arrivals at a rate, or every request at once) through the launcher's
 * Transport on the cell's clock (loadgen/run-stage.ts), with the servers' /metrics read around
 * it (loadgen/server-metrics.ts). Every `servelab bench` stage and every request cell of
 * `servelab run` / `sweep` is this function.
 * Where the records go: an experiment's cell directory is a bench run directory of its own
 * (docs/FORMATS.md: run.json kind bench with `config` = the cell's swept flags and load,
 * requests.jsonl appended as requests end, kv_timeseries.csv, summary.json with the bench summary
 * and what /metrics said), so `servelab aggregate` and `servelab sweep` read it with one code
 * path; a bench run (a RequestSeries) appends every cell's records to its one run directory and
 * writes its summary.json itself.
 */
import { join, resolve } from 'node:path';
import type { AgentClock } from '../agent/clock.js';
import type { SecretRegistry } from '../config/secrets.js';
import type { RequestsWorkloadSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LaunchedServers } from '../launch/launcher.js';
import { type ArrivalSpec, concurrencyCap, describeArrivals } from '../loadgen/arrivals.js';
import { boundedWorkload, timeoutsMs } from '../loadgen/bench-flags.js';
import type { LiveCounters } from '../loadgen/dispatcher.js';
import type { RequestTemplate } from '../loadgen/requests.js';
import { BenchRunDir } from '../loadgen/run-dir.js';
import { runStage, type StageResult } from '../loadgen/run-stage.js';
import type { ClientPoint } from '../loadgen/scenarios/level.js';
import { probeServerMetrics, type ServerPoint } from '../loadgen/server-metrics.js';
import type { GoodputSlo } from '../loadgen/summary.js';
import type { Endpoint } from '../loadgen/transport.js';
import { autoWorkers } from '../loadgen/workers.js';
import type { SamplerClock } from '../metrics/sampler.js';
import { SERVELAB_VERSION } from '../version.js';
import type { WorkloadItem } from '../workload/item.js';
import { buildWorkload, type DatasetName, type WorkloadOptions } from '../workload/source.js';
import type { Cell } from './plan.js';

/** The workload options of a spec's `requests` section (paths against the spec's directory). */
export function requestWorkloadOptions(
  r: RequestsWorkloadSpec,
  seed: number,
  baseDir: string,
): WorkloadOptions {
  return boundedWorkload({
    seed,
    ...(r.dataset ? { datasetName: r.dataset as DatasetName } : {}),
    ...(r.path ? { datasetPath: resolve(baseDir, r.path) } : {}),
    ...(r.suite ? { suite: r.suite } : {}),
    ...(r.num_prompts !== undefined ? { count: r.num_prompts } : {}),
    ...(r.input_len !== undefined ? { randomInputLen: r.input_len } : {}),
    ...(r.output_len !== undefined ? { randomOutputLen: r.output_len } : {}),
    ...(r.range_ratio !== undefined ? { randomRangeRatio: r.range_ratio } : {}),
    ...(r.input_dist ? { inputDist: r.input_dist } : {}),
    ...(r.output_dist ? { outputDist: r.output_dist } : {}),
    ...(r.prefix_groups !== undefined ? { prefixGroups: r.prefix_groups } : {}),
    ...(r.prompts_per_group !== undefined ? { promptsPerGroup: r.prompts_per_group } : {}),
    ...(r.prefix_len !== undefined ? { prefixLen: r.prefix_len } : {}),
    ...(r.sharegpt_output_len !== undefined ? { sharegptOutputLen: r.sharegpt_output_len } : {}),
  });
}

/** The cell's load level as an arrival process. */
export function cellArrivals(cell: Cell, r: RequestsWorkloadSpec): ArrivalSpec {
  if (cell.load.kind === 'concurrency') return { kind: 'closed', concurrency: cell.load.concurrency };
  const cap = r.max_concurrency !== undefined ? { maxConcurrency: r.max_concurrency } : {};
  if (cell.load.kind === 'burst') return { kind: 'burst', ...cap };
  const rate = cell.load.ratePerSec;
  if (r.arrivals === 'constant') return { kind: 'constant', ratePerSec: rate, ...cap };
  return r.burstiness === 1
    ? { kind: 'poisson', ratePerSec: rate, ...cap }
    : { kind: 'gamma', ratePerSec: rate, burstiness: r.burstiness, ...cap };
}

/** The run.json `config` of a request cell: the columns experiment_results.csv gets. */
export function cellConfig(cell: Cell): Record<string, string | number | boolean> {
  return {
    arm: cell.arm.name,
    ...(cell.server.label ? { server_config: cell.server.label } : {}),
    ...cell.server.params,
    ...(cell.load.kind === 'concurrency'
      ? { concurrency: cell.load.concurrency }
      : { request_rate: cell.load.kind === 'rate' ? cell.load.ratePerSec : 'inf' }),
    rep: cell.rep,
  };
}

/**
 * Cells that write into one bench run directory (`servelab bench`: its stages), instead of each
 * into its own.
 */
export interface RequestSeries {
  runDir: BenchRunDir;
  /** the run's kv_timeseries.csv */
  kvPath: string;
  /** the stage number the cell's records carry (0-based, in run order) */
  stageOf: (cell: Cell) => number;
  /** warm-up requests before this cell's measured ones (bench: the first stage only) */
  warmupOf: (cell: Cell) => number;
  /** the cell's live counters (the progress line), made when it starts driving */
  counters?: (cell: Cell, arrivals: ArrivalSpec, planned: number | undefined) => LiveCounters | undefined;
  /**
   * The level as the series gives it (a load scenario's ramp step, grid cell, soak, SLO probe):
   * its exact arrivals, its own prompts and its count or duration, in place of the ones the
   * cell's load and the spec's `requests` section give.
   */
  levelOf?: (cell: Cell) => SeriesLevel | undefined;
  /** the client's memory, sampled on the stage's clock alongside it (the CLI: process.memoryUsage) */
  sampleClient?: () => { rss: number; heapUsed: number };
  /** the stage has ended: what was sampled beside it (a scenario's LevelResult) */
  onDriven?: (cell: Cell, driven: DrivenStage) => void;
}

/** One level of a series, given by the series itself (see RequestSeries.levelOf). */
export interface SeriesLevel {
  arrivals: ArrivalSpec;
  items: WorkloadItem[];
  numPrompts?: number;
  durationMs?: number;
  /** what cell.json says about the prompts (default: their count) */
  description?: string;
}

/** What was sampled beside one stage of a series. */
export interface DrivenStage {
  stage: StageResult;
  /** the servers' gauges per /metrics tick, on the stage's clock (empty: no metrics) */
  server: ServerPoint[];
  /** the client's memory, on the stage's clock (empty: no sampleClient) */
  client: ClientPoint[];
  /** the stage's window in wall-clock unix ms (for outside sources: Prometheus, DCGM) */
  startUnixMs: number;
  endUnixMs: number;
}

export interface RequestDriveOptions {
  cell: Cell;
  dir: string;
  requests: RequestsWorkloadSpec;
  baseDir: string;
  running: LaunchedServers;
  clock: AgentClock;
  secrets: SecretRegistry;
  signal?: AbortSignal;
  metricsIntervalMs: number;
  metricNames?: string[];
  /** read the servers' /metrics around the stage (spec metrics.server) */
  serverMetrics: boolean;
  /** the requests' API key (resolved from workload.requests.apiKey) */
  apiKey?: string;
  /** after Ctrl-C, how long in-flight requests may finish before they are cut */
  graceMs?: number;
  note: (n: string) => void;
  log: (line: string) => void;
  /** the real time the cell's files are stamped with */
  createdAt: Date;
  series?: RequestSeries;
}

export interface RequestDriveResult {
  interrupted: boolean;
  counts: { measured: number; ok: number; error: number; incomplete: number };
  model: string;
  /** what cell.json records about the workload */
  workload: { description: string; count: number; seed: number };
  /** the stage's result (its summary carries `server`: what /metrics said) */
  stage: StageResult;
}

/** The request template of a spec's `requests` section at one endpoint. */
export function requestTemplate(
  r: RequestsWorkloadSpec,
  endpoint: Endpoint,
  apiKey?: string,
): RequestTemplate {
  return {
    endpoint,
    api: r.api,
    stream: r.stream,
    minTokens: r.min_tokens ?? r.ignore_eos,
    ignoreEos: r.ignore_eos,
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.extra_body ? { extraBody: r.extra_body } : {}),
    ...(r.headers && Object.keys(r.headers).length > 0 ? { extraHeaders: r.headers } : {}),
    ...(apiKey ? { apiKey } : {}),
    timeouts: timeoutsMs({
      firstByteS: r.first_byte_timeout_s,
      idleS: r.idle_timeout_s,
      totalS: r.timeoutS ?? null,
    }),
  };
}

/** The goodput SLOs of a spec's `requests` section, in the summary's terms. */
export function goodputOf(r: RequestsWorkloadSpec): GoodputSlo | undefined {
  const g = r.goodput;
  if (!g) return undefined;
  return {
    ...(g.ttft_ms !== undefined ? { ttftMs: g.ttft_ms } : {}),
    ...(g.tpot_ms !== undefined ? { tpotMs: g.tpot_ms } : {}),
    ...(g.e2el_ms !== undefined ? { e2elMs: g.e2el_ms } : {}),
  };
}

/** The drive phase of a request-stream cell (see the file comment). */
export async function driveRequests(o: RequestDriveOptions): Promise<RequestDriveResult> {
  const { cell, running, requests: r, series } = o;
  const served = [...running.endpoints.keys()];
  const model = r.model ?? served[0];
  const eps = model ? (running.endpoints.get(model) ?? []) : [];
  const ep = eps[0];
  if (!model || !ep)
    throw new ServelabError(
      'BAD_CONFIG',
      `workload.requests.model "${model ?? ''}" is not served by this cell's servers`,
      {
        hint: `the servers serve: ${served.join(', ') || 'nothing'}`,
      },
    );
  if (eps.length > 1) o.note(`${eps.length} replicas serve ${model}: requests go to them round-robin`);
  const level = series?.levelOf?.(cell);
  const workload = level
    ? { items: level.items, description: level.description ?? `${level.items.length} prompts` }
    : buildWorkload(requestWorkloadOptions(r, cell.promptSeed, o.baseDir));
  const template = requestTemplate(r, ep, o.apiKey);
  const arrivals = level?.arrivals ?? cellArrivals(cell, r);
  const runDir = series?.runDir ?? new BenchRunDir(o.dir, cell.id, [], o.createdAt, o.secrets);
  if (!series)
    runDir.writeJson('run.json', {
      v: 1,
      kind: 'bench',
      name: cell.id,
      createdAt: o.createdAt.toISOString(),
      servelabVersion: SERVELAB_VERSION,
      args: [],
      config: cellConfig(cell),
      ...(cell.server.vllm ? { vllm: cell.server.vllm } : {}),
      ...(cell.server.notModelled?.length ? { notModelled: cell.server.notModelled } : {}),
    });
  const origins = eps.map((e) => e.baseUrl.replace(/\/v1\/?$/, ''));
  const origin = origins[0] as string;
  const v = running.virtual;
  const probe = !o.serverMetrics
    ? undefined
    : await probeServerMetrics({
        targets: origins.map((u) => {
          const t = running.servers.find((s) => s.url === u);
          return { url: u, port: t?.port ?? Number(new URL(u).port || 80), label: t?.label ?? u };
        }),
        csvPath: series?.kvPath ?? join(o.dir, 'kv_timeseries.csv'),
        intervalMs: o.metricsIntervalMs,
        note: o.note,
        scrub: (t) => o.secrets.scrub(t),
        // samples on the stage's clock (virtual time: its events), so they line up with the records
        clock: samplerClock(o.clock),
        ...(v ? { fetchText: running.fetchText } : {}),
      });
  const warmup = series ? series.warmupOf(cell) : r.warmup;
  const durationMs = level ? level.durationMs : r.duration_s !== undefined ? r.duration_s * 1000 : undefined;
  const numPrompts = level ? level.numPrompts : r.num_prompts;
  const measured = durationMs !== undefined ? undefined : (numPrompts ?? workload.items.length);
  o.log(`[${cell.id}] ${workload.description} at ${describeArrivals(arrivals)} -> ${model}`);
  // open loop without a cap: room for every request in flight (connections open only as needed)
  const cap = arrivals.kind === 'closed' ? arrivals.concurrency : (arrivals.maxConcurrency ?? 4096);
  // worker threads send over their own HTTP: real time, one endpoint
  const workers =
    v || eps.length > 1
      ? 0
      : r.workers === 'auto'
        ? autoWorkers(concurrencyCap(arrivals) ?? (arrivals.kind === 'burst' ? (measured ?? cap) : undefined))
        : r.workers;
  const transport = workers > 0 ? undefined : running.transport(cap);
  const counters = series?.counters?.(cell, arrivals, measured !== undefined ? measured + warmup : undefined);
  const goodput = goodputOf(r);
  let stage: StageResult;
  let delta: Awaited<ReturnType<NonNullable<typeof probe>['stop']>>;
  const client: ClientPoint[] = [];
  const memory = series?.sampleClient
    ? clientSampler(series.sampleClient, o.clock, o.metricsIntervalMs, client)
    : undefined;
  const startUnixMs = Date.now();
  let endUnixMs = startUnixMs;
  try {
    stage = await runStage({
      items: workload.items,
      template,
      arrivals,
      // DP replicas (a port each): round-robin over them, as W1's clients do
      ...(eps.length > 1 ? { endpoints: eps } : {}),
      seed: cell.seed + cell.level,
      ...(numPrompts !== undefined ? { numPrompts } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
      warmup,
      stage: series ? series.stageOf(cell) : 0,
      workers,
      ...(transport ? { transport } : {}),
      ...(v
        ? {
            virtual: {
              now: () => o.clock.now(),
              sleepUntil: (t: number, signal?: AbortSignal) =>
                o.clock.sleep(Math.max(0, t - o.clock.now()), signal),
              drive: <T>(work: Promise<T>) => v.drive(work),
            },
          }
        : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(counters ? { counters } : {}),
      ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
      ...(r.percentiles ? { percentiles: r.percentiles } : {}),
      ...(goodput ? { goodput } : {}),
      onRecord: (rec) => runDir.append(rec),
    });
  } finally {
    endUnixMs = Date.now();
    await memory?.stop();
    delta = await probe?.stop().catch(() => undefined);
    await transport?.close?.().catch(() => undefined);
    if (!series) runDir.close();
  }
  const s = stage.summary;
  if (v && s.selfCheck?.warning) {
    // virtual time: a busy event loop delays no request (the clock waits for it), so the client
    // self-check's saturation warning says nothing about these latencies
    const w = s.selfCheck.warning;
    s.warnings = s.warnings.filter((x) => x !== w);
    o.note(`virtual time: the client self-check's warning does not apply (${w})`);
  }
  // summed over the replicas: the deployment's preemptions and KV capacity (absent: no /metrics)
  if (delta) s.server = delta;
  if (delta?.serverMeanInFlight !== undefined) s.littleLaw.serverMeanInFlight = delta.serverMeanInFlight;
  series?.onDriven?.(cell, {
    stage,
    server: probe?.timeline() ?? [],
    client,
    startUnixMs,
    endUnixMs,
  });
  if (!series)
    runDir.writeJson('summary.json', {
      ...s,
      model,
      baseUrl: origin,
      dataset: workload.description,
      cell: cell.id,
    });
  return {
    interrupted: stage.outcome.interrupted,
    counts: {
      measured: s.counts.measured,
      ok: s.counts.ok,
      error: s.counts.error,
      incomplete: s.counts.incomplete,
    },
    model,
    workload: { description: workload.description, count: workload.items.length, seed: cell.promptSeed },
    stage,
  };
}

/** The client's memory every `intervalMs` on the stage's clock, into `out`, until stop(). */
function clientSampler(
  read: () => { rss: number; heapUsed: number },
  clock: AgentClock,
  intervalMs: number,
  out: ClientPoint[],
): { stop(): Promise<void> } {
  const ctl = new AbortController();
  const loop = (async () => {
    let at = clock.now();
    while (!ctl.signal.aborted) {
      const m = read();
      out.push({ tMs: clock.now(), rssBytes: m.rss, heapUsedBytes: m.heapUsed });
      at += intervalMs;
      await clock.sleep(Math.max(0, at - clock.now()), ctl.signal);
    }
  })();
  return {
    async stop() {
      ctl.abort();
      await loop;
    },
  };
}

function samplerClock(clock: AgentClock): SamplerClock {
  return {
    nowUnixMs: () => clock.now(),
    sleepUntil: (t, signal) => clock.sleep(t - clock.now(), signal),
  };
}

/**
 * The request-stream driver: the drive phase of a cell whose workload is `requests` (the bench
 * datasets and W3 suites), beside the agent driver. One load level (a closed loop at C, or
 * Poisson / gamma arrivals at a rate) through the launcher's Transport on the cell's clock
 * (loadgen/run-stage.ts, as `servelab bench` runs a stage). The cell directory is also a bench
 * run directory (docs/FORMATS.md): run.json (kind bench, `config` = the cell's swept flags and
 * load), requests.jsonl appended as requests end, kv_timeseries.csv, and summary.json with the
 * bench summary and what /metrics said (preemptions, KV blocks, KV usage), so `servelab
 * aggregate` and `servelab sweep` read it with one code path.
 */
import { join, resolve } from 'node:path';
import type { AgentClock } from '../agent/clock.js';
import type { SecretRegistry } from '../config/secrets.js';
import type { RequestsWorkloadSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LaunchedServers } from '../launch/launcher.js';
import { type ArrivalSpec, describeArrivals } from '../loadgen/arrivals.js';
import { boundedWorkload } from '../loadgen/bench-flags.js';
import type { RequestTemplate } from '../loadgen/requests.js';
import { BenchRunDir } from '../loadgen/run-dir.js';
import { runStage } from '../loadgen/run-stage.js';
import type { FetchText } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { type SamplerClock, startSampler } from '../metrics/sampler.js';
import { SERVELAB_VERSION } from '../version.js';
import { buildWorkload, type DatasetName, type WorkloadOptions } from '../workload/source.js';
import type { Cell } from './plan.js';

/** What /metrics says about one server at one moment (the counters the sweep tables need). */
export interface ServerPage {
  preemptions?: number;
  numGpuBlocks?: number;
  blockSize?: number;
}

export async function readServerPage(fetchText: FetchText, origin: string): Promise<ServerPage | undefined> {
  try {
    const res = await fetchText(`${origin}/metrics`, { timeoutMs: 5000 });
    if (!res.ok) return undefined;
    const parsed = parsePrometheusText(res.text);
    if (!parsed.ok) return undefined;
    const out: ServerPage = {};
    for (const x of parsed.page.samples) {
      if (x.name === 'vllm:num_preemptions_total') out.preemptions = (out.preemptions ?? 0) + x.value;
      if (x.name === 'vllm:cache_config_info') {
        const n = Number(x.labels.num_gpu_blocks);
        if (Number.isFinite(n)) out.numGpuBlocks = n;
        const b = Number(x.labels.block_size);
        if (Number.isFinite(b)) out.blockSize = b;
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

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
  });
}

/** The cell's load level as an arrival process. */
export function cellArrivals(cell: Cell, r: RequestsWorkloadSpec): ArrivalSpec {
  if (cell.load.kind === 'concurrency') return { kind: 'closed', concurrency: cell.load.concurrency };
  const cap = r.max_concurrency !== undefined ? { maxConcurrency: r.max_concurrency } : {};
  const rate = cell.load.ratePerSec;
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
      : { request_rate: cell.load.ratePerSec }),
    rep: cell.rep,
  };
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
  note: (n: string) => void;
  log: (line: string) => void;
  /** the real time the cell's files are stamped with */
  createdAt: Date;
}

export interface RequestDriveResult {
  interrupted: boolean;
  counts: { measured: number; ok: number; error: number; incomplete: number };
  model: string;
  /** what cell.json records about the workload */
  workload: { description: string; count: number; seed: number };
}

function samplerClock(clock: AgentClock): SamplerClock {
  return {
    nowUnixMs: () => clock.now(),
    sleepUntil: (t, signal) => clock.sleep(t - clock.now(), signal),
  };
}

const SAMPLED = [
  'vllm:kv_cache_usage_perc',
  'vllm:num_preemptions_total',
  'vllm:num_requests_running',
  'vllm:num_requests_waiting',
];

/** The drive phase of a request-stream cell (see the file comment). */
export async function driveRequests(o: RequestDriveOptions): Promise<RequestDriveResult> {
  const { cell, running, requests: r } = o;
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
  const wopts = requestWorkloadOptions(r, cell.seed, o.baseDir);
  const workload = buildWorkload(wopts);
  const template: RequestTemplate = {
    endpoint: ep,
    api: r.api,
    stream: r.stream,
    minTokens: r.ignore_eos,
    ignoreEos: r.ignore_eos,
    ...(r.timeoutS !== undefined ? { timeouts: { totalMs: r.timeoutS * 1000 } } : {}),
  };
  const arrivals = cellArrivals(cell, r);
  const runDir = new BenchRunDir(o.dir, cell.id, [], o.createdAt, o.secrets);
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
  const sampler = startSampler({
    targets: origins.map((u) => {
      const t = running.servers.find((s) => s.url === u);
      return { url: u, port: t?.port ?? Number(new URL(u).port), label: t?.label ?? u };
    }),
    intervalMs: o.metricsIntervalMs,
    metrics: o.metricNames ?? SAMPLED,
    out: join(o.dir, 'kv_timeseries.csv'),
    onNote: o.note,
    ...(running.virtual ? { clock: samplerClock(o.clock), fetchText: running.fetchText } : {}),
  });
  const pages = () => Promise.all(origins.map((u) => readServerPage(running.fetchText, u)));
  const before = await pages();
  o.log(`[${cell.id}] ${workload.description} at ${describeArrivals(arrivals)} -> ${model}`);
  // open loop without a cap: room for every request in flight (connections open only as needed)
  const cap = arrivals.kind === 'closed' ? arrivals.concurrency : (arrivals.maxConcurrency ?? 4096);
  const transport = running.transport(cap);
  let stage: Awaited<ReturnType<typeof runStage>>;
  try {
    const v = running.virtual;
    stage = await runStage({
      items: workload.items,
      template,
      arrivals,
      // DP replicas (a port each): round-robin over them, as W1's clients do
      ...(eps.length > 1 ? { endpoints: eps } : {}),
      seed: cell.seed,
      ...(r.num_prompts !== undefined ? { numPrompts: r.num_prompts } : {}),
      warmup: r.warmup,
      transport,
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
      onRecord: (rec) => runDir.append(rec),
    });
  } finally {
    await sampler.stop().catch(() => undefined);
    await transport.close?.().catch(() => undefined);
    runDir.close();
  }
  const after = await pages();
  const total = (ps: (ServerPage | undefined)[], k: keyof ServerPage): number | undefined =>
    ps.every((p) => p?.[k] !== undefined) ? ps.reduce((a, p) => a + (p?.[k] as number), 0) : undefined;
  const pBefore = total(before, 'preemptions');
  const pAfter = total(after, 'preemptions');
  const blocks = total(after, 'numGpuBlocks');
  const blockSize = after[0]?.blockSize;
  const s = stage.summary;
  if (running.virtual && s.selfCheck?.warning) {
    // virtual time: a busy event loop delays no request (the clock waits for it), so the client
    // self-check's saturation warning says nothing about these latencies
    const w = s.selfCheck.warning;
    s.warnings = s.warnings.filter((x) => x !== w);
    o.note(`virtual time: the client self-check's warning does not apply (${w})`);
  }
  // summed over the replicas: the deployment's preemptions and KV capacity
  const server = {
    url: origin,
    ...(origins.length > 1 ? { replicas: origins } : {}),
    ...(pBefore !== undefined && pAfter !== undefined ? { preemptions: pAfter - pBefore } : {}),
    ...(blocks !== undefined ? { numGpuBlocks: blocks } : {}),
    ...(blockSize !== undefined ? { blockSize } : {}),
  };
  runDir.writeJson('summary.json', {
    ...s,
    model,
    baseUrl: origin,
    dataset: workload.description,
    cell: cell.id,
    server: { ...((s as { server?: object }).server ?? {}), ...server },
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
    workload: { description: workload.description, count: workload.items.length, seed: cell.seed },
  };
}

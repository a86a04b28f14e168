import { readFileSync } from 'node:fs';
import type { FetchText } from '../metrics/fetch.js';
import { fetchMetrics } from '../metrics/fetch.js';
import { type SamplerClock, type SamplerTarget, startSampler } from '../metrics/sampler.js';
import { type CanonicalSnapshot, diffSnapshots } from '../metrics/snapshot.js';

/** What the servers' own /metrics said about one measured stage (summed over DP replicas). */
export interface ServerMetricsDelta {
  url: string;
  /** every replica's origin, when the stage ran on several */
  replicas?: string[];
  durationS: number;
  preemptions?: number;
  prefixQueries?: number;
  prefixHits?: number;
  /** d(hits) / d(queries) over the stage */
  prefixHitRate?: number;
  promptTokens?: number;
  generationTokens?: number;
  /** KV usage (0-1) sampled during the stage */
  kvUsageMean?: number;
  kvUsageMax?: number;
  /** mean of running + waiting requests sampled during the stage (Little's law, server side) */
  serverMeanInFlight?: number;
  /** the deployment's KV capacity (vllm:cache_config_info num_gpu_blocks, summed) and block size */
  numGpuBlocks?: number;
  blockSize?: number;
  samples: number;
  /** a counter went down: the server restarted during the stage */
  counterReset: boolean;
}

/** One tick of the servers' gauges on the stage's clock (summed over replicas; KV usage: their mean). */
export interface ServerPoint {
  tMs: number;
  kvUsage?: number;
  running?: number;
  waiting?: number;
  /** the preemption counter (cumulative) */
  preemptions?: number;
}

export interface ServerMetricsProbe {
  stop(): Promise<ServerMetricsDelta | undefined>;
  /** after stop(): the stage's samples, one point per tick (a scenario level's server timeline) */
  timeline(): ServerPoint[];
}

export interface ProbeOptions {
  /** the servers of the stage (their /metrics is read at each origin) */
  targets: SamplerTarget[];
  /** kv_timeseries.csv, appended to */
  csvPath: string;
  intervalMs: number;
  note: (text: string) => void;
  /** the in-process simulator's pages (virtual time); default HTTP */
  fetchText?: FetchText;
  /** the stage's clock (virtual time); default the wall clock */
  clock?: SamplerClock;
  /** applied to every CSV line and note (server text may echo a secret) */
  scrub?: (text: string) => string;
}

const KV_RE = /kv_cache_usage|gpu_cache_usage|token_usage/;
const RUN_RE = /num_requests_running|num_running_reqs/;
const WAIT_RE = /num_requests_waiting|num_queue_reqs/;
const PRE_RE = /num_preemptions|num_retracted_requests/;
const COUNTERS = ['preemptions', 'prefixQueries', 'prefixHits', 'promptTokens', 'generationTokens'] as const;

/**
 * Reads the servers' /metrics before a stage, samples KV usage and queue lengths into
 * kv_timeseries.csv while it runs, and diffs the counters after (summed over the targets: a
 * deployment of DP replicas is one server to the stage). A server without /metrics gives
 * undefined and a note, never a failed benchmark. The one reading of /metrics around a request
 * stage: `servelab bench`, its scenarios and every request cell of an experiment.
 */
export async function probeServerMetrics(o: ProbeOptions): Promise<ServerMetricsProbe | undefined> {
  const now = o.clock ? () => o.clock!.nowUnixMs() : Date.now;
  const read = (url: string) =>
    fetchMetrics(url, {
      timeoutMs: 3000,
      nowUnixMs: now,
      ...(o.fetchText ? { fetchText: o.fetchText } : {}),
    });
  let before: CanonicalSnapshot[];
  try {
    before = await Promise.all(o.targets.map((t) => read(t.url)));
  } catch (err) {
    o.note(
      `no server metrics: ${(err as Error).message}; preemptions, prefix hits and KV usage are not recorded`,
    );
    return undefined;
  }
  const startSize = safeSize(o.csvPath);
  const sampler = startSampler({
    targets: o.targets,
    intervalMs: o.intervalMs,
    metrics: [
      'vllm:kv_cache_usage_perc',
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:num_preemptions_total',
    ],
    out: o.csvPath,
    onNote: o.note,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.fetchText ? { fetchText: o.fetchText } : {}),
    ...(o.scrub ? { scrub: o.scrub } : {}),
  });
  let rows: Row[] = [];
  let end: ServerPoint | undefined;
  return {
    timeline: () => [...timelineOf(rows, o.targets.length), ...(end ? [end] : [])],
    async stop() {
      await sampler.stop();
      rows = readRows(o.csvPath, startSize);
      let after: CanonicalSnapshot[];
      try {
        after = await Promise.all(o.targets.map((t) => read(t.url)));
      } catch (err) {
        o.note(`server metrics after the run: ${(err as Error).message}`);
        return undefined;
      }
      // the preemption counter at the stage's end closes the timeline (a level shorter than one
      // sampling interval still has its preemptions: the last point minus the first)
      if (after.every((a) => a.combined.preemptions !== undefined))
        end = { tMs: Math.round(now()), preemptions: after.reduce((a, s) => a + s.combined.preemptions!, 0) };
      const diffs = after.map((a, k) => diffSnapshots(before[k]!, a));
      const first = before[0]!;
      const out: ServerMetricsDelta = {
        url: first.url,
        ...(before.length > 1 ? { replicas: before.map((b) => b.url) } : {}),
        durationS: diffs[0]!.durationS,
        samples: 0,
        counterReset: diffs.some((d) => d.counterReset),
      };
      for (const k of COUNTERS)
        if (diffs.every((d) => d[k] !== undefined)) out[k] = diffs.reduce((a, d) => a + d[k]!, 0);
      if (out.prefixQueries !== undefined && out.prefixHits !== undefined && out.prefixQueries > 0)
        out.prefixHitRate = out.prefixHits / out.prefixQueries;
      const cfgs = after.map((a) => a.combined.cacheConfig);
      if (cfgs.every((c) => c?.numGpuBlocks !== undefined))
        out.numGpuBlocks = cfgs.reduce((a, c) => a + c!.numGpuBlocks!, 0);
      if (cfgs[0]?.blockSize !== undefined) out.blockSize = cfgs[0].blockSize;
      // one server: its samples; replicas: the mean over them at each tick is not needed here,
      // the usage figures are over every sample of every replica
      const kv = rows.filter((r) => KV_RE.test(r.metric)).map((r) => r.value);
      const run = rows.filter((r) => RUN_RE.test(r.metric));
      const wait = rows.filter((r) => WAIT_RE.test(r.metric));
      out.samples = Math.round(kv.length / Math.max(1, o.targets.length));
      if (kv.length > 0) {
        out.kvUsageMean = kv.reduce((a, b) => a + b, 0) / kv.length;
        out.kvUsageMax = Math.max(...kv);
      }
      // summed over the replicas: requests in the deployment
      if (run.length > 0 && run.length === wait.length)
        out.serverMeanInFlight =
          (run.reduce((a, r, k) => a + r.value + wait[k]!.value, 0) / run.length) * o.targets.length;
      return out;
    },
  };
}

function safeSize(path: string): number {
  try {
    return readFileSync(path).length;
  } catch {
    return 0;
  }
}

interface Row {
  tMs: number;
  metric: string;
  value: number;
}

/**
 * One point per tick from the rows of every target: queues and the preemption counter summed
 * over the replicas, KV usage their mean. Only the bare names (a port's combined value), not
 * the per-engine rows `name{engine="1"}`; a tick missing a target's value leaves that field out.
 */
function timelineOf(rows: readonly Row[], targets: number): ServerPoint[] {
  const ticks = new Map<number, { kv: number[]; run: number[]; wait: number[]; pre: number[] }>();
  for (const r of rows) {
    if (r.metric.includes('{')) continue;
    let t = ticks.get(r.tMs);
    if (!t) {
      t = { kv: [], run: [], wait: [], pre: [] };
      ticks.set(r.tMs, t);
    }
    if (KV_RE.test(r.metric)) t.kv.push(r.value);
    else if (RUN_RE.test(r.metric)) t.run.push(r.value);
    else if (WAIT_RE.test(r.metric)) t.wait.push(r.value);
    else if (PRE_RE.test(r.metric)) t.pre.push(r.value);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return [...ticks]
    .sort((a, b) => a[0] - b[0])
    .map(([tMs, t]) => ({
      tMs,
      ...(t.kv.length === targets ? { kvUsage: sum(t.kv) / targets } : {}),
      ...(t.run.length === targets ? { running: sum(t.run) } : {}),
      ...(t.wait.length === targets ? { waiting: sum(t.wait) } : {}),
      ...(t.pre.length === targets ? { preemptions: sum(t.pre) } : {}),
    }));
}

/** Long-format rows (ts_iso,ts_unix,port,metric,value) appended after byte `from`. */
function readRows(path: string, from: number): Row[] {
  let text: string;
  try {
    text = readFileSync(path).subarray(from).toString('utf8');
  } catch {
    return [];
  }
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(',');
    if (parts.length !== 5 || parts[0] === 'ts_iso') continue;
    const value = Number(parts[4]);
    const tMs = Math.round(Number(parts[1]) * 1000);
    if (Number.isFinite(value) && Number.isFinite(tMs)) rows.push({ tMs, metric: parts[3]!, value });
  }
  return rows;
}

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

export interface ServerMetricsProbe {
  stop(): Promise<ServerMetricsDelta | undefined>;
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
    metrics: ['vllm:kv_cache_usage_perc', 'vllm:num_requests_running', 'vllm:num_requests_waiting'],
    out: o.csvPath,
    onNote: o.note,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.fetchText ? { fetchText: o.fetchText } : {}),
    ...(o.scrub ? { scrub: o.scrub } : {}),
  });
  return {
    async stop() {
      await sampler.stop();
      let after: CanonicalSnapshot[];
      try {
        after = await Promise.all(o.targets.map((t) => read(t.url)));
      } catch (err) {
        o.note(`server metrics after the run: ${(err as Error).message}`);
        return undefined;
      }
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
      const rows = readRows(o.csvPath, startSize);
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

/** Long-format rows (ts_iso,ts_unix,port,metric,value) appended after byte `from`. */
function readRows(path: string, from: number): { metric: string; value: number }[] {
  let text: string;
  try {
    text = readFileSync(path).subarray(from).toString('utf8');
  } catch {
    return [];
  }
  const rows: { metric: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(',');
    if (parts.length !== 5 || parts[0] === 'ts_iso') continue;
    const value = Number(parts[4]);
    if (Number.isFinite(value)) rows.push({ metric: parts[3]!, value });
  }
  return rows;
}

import { readFileSync } from 'node:fs';
import { fetchMetrics } from '../metrics/fetch.js';
import { startSampler } from '../metrics/sampler.js';
import { type CanonicalSnapshot, diffSnapshots } from '../metrics/snapshot.js';

/** What the server's own /metrics said about one measured stage. */
export interface ServerMetricsDelta {
  url: string;
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
  samples: number;
  /** a counter went down: the server restarted during the stage */
  counterReset: boolean;
}

export interface ServerMetricsProbe {
  stop(): Promise<ServerMetricsDelta | undefined>;
}

const KV_RE = /kv_cache_usage|gpu_cache_usage|token_usage/;
const RUN_RE = /num_requests_running|num_running_reqs/;
const WAIT_RE = /num_requests_waiting|num_queue_reqs/;

/**
 * Reads the server's /metrics before a stage, samples KV usage and queue lengths into
 * `csvPath` (kv_timeseries.csv) while it runs, and diffs the counters after. A server without
 * /metrics gives undefined and a note, never a failed benchmark.
 */
export async function probeServerMetrics(
  baseUrl: string,
  csvPath: string,
  intervalMs: number,
  note: (text: string) => void,
): Promise<ServerMetricsProbe | undefined> {
  let before: CanonicalSnapshot;
  try {
    before = await fetchMetrics(baseUrl, { timeoutMs: 3000 });
  } catch (err) {
    note(
      `no server metrics: ${(err as Error).message}; preemptions, prefix hits and KV usage are not recorded`,
    );
    return undefined;
  }
  const port = Number(new URL(before.url).port || 80);
  const startSize = safeSize(csvPath);
  const sampler = startSampler({
    targets: [{ url: baseUrl, port }],
    intervalMs,
    metrics: ['vllm:kv_cache_usage_perc', 'vllm:num_requests_running', 'vllm:num_requests_waiting'],
    out: csvPath,
    onNote: note,
  });
  return {
    async stop() {
      await sampler.stop();
      let after: CanonicalSnapshot;
      try {
        after = await fetchMetrics(baseUrl, { timeoutMs: 3000 });
      } catch (err) {
        note(`server metrics after the run: ${(err as Error).message}`);
        return undefined;
      }
      const d = diffSnapshots(before, after);
      const rows = readRows(csvPath, startSize);
      const kv = rows.filter((r) => KV_RE.test(r.metric)).map((r) => r.value);
      const run = rows.filter((r) => RUN_RE.test(r.metric));
      const wait = rows.filter((r) => WAIT_RE.test(r.metric));
      const out: ServerMetricsDelta = {
        url: before.url,
        durationS: d.durationS,
        samples: kv.length,
        counterReset: d.counterReset,
      };
      for (const k of [
        'preemptions',
        'prefixQueries',
        'prefixHits',
        'prefixHitRate',
        'promptTokens',
        'generationTokens',
      ] as const)
        if (d[k] !== undefined) out[k] = d[k];
      if (kv.length > 0) {
        out.kvUsageMean = kv.reduce((a, b) => a + b, 0) / kv.length;
        out.kvUsageMax = Math.max(...kv);
      }
      if (run.length > 0 && run.length === wait.length)
        out.serverMeanInFlight = run.reduce((a, r, k) => a + r.value + wait[k]!.value, 0) / run.length;
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

/**
 * Reads the same series from an existing Prometheus server (`/api/v1/query_range`) for users who
 * already scrape their servers, including the DCGM exporter's GPU series when present, and writes
 * them in the users' CSV format. The port column is the scraped target's port (from the
 * `instance` label); several series of one name on one instance (vLLM engines) are combined the
 * way the sampler combines them (KV usage: mean, as Prometheus has no per-sample block weights
 * here; others: sum). DCGM series keep the GPU index in the metric name (`DCGM_FI_DEV_GPU_UTIL[gpu=0]`)
 * because the CSV has no label column.
 */
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { ServelabError } from '../errors.js';
import { aliasesOf, KV_USAGE_NAMES } from './registry.js';
import { type MetricSample, sampleToCsvLine, TIMESERIES_HEADER } from './timeseries.js';

export const DCGM_METRICS: readonly string[] = ['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED'];

export interface RangeSeries {
  metric: Record<string, string>;
  /** [unix seconds, value as text] */
  values: [number, string][];
}

export interface PrometheusRangeQuery {
  prometheusUrl: string;
  query: string;
  startUnixS: number;
  endUnixS: number;
  stepS: number;
  timeoutMs?: number;
}

/** One `query_range` call; throws ServelabError with Prometheus's own message on failure. */
export async function queryRange(q: PrometheusRangeQuery): Promise<RangeSeries[]> {
  const url = new URL('/api/v1/query_range', q.prometheusUrl);
  url.searchParams.set('query', q.query);
  url.searchParams.set('start', String(q.startUnixS));
  url.searchParams.set('end', String(q.endUnixS));
  url.searchParams.set('step', String(q.stepS));
  const where = `[GET] "${url.origin}/api/v1/query_range?query=${q.query}"`;
  let status: number;
  let text: string;
  try {
    const res = await request(url, {
      method: 'GET',
      headersTimeout: q.timeoutMs ?? 10_000,
      bodyTimeout: q.timeoutMs ?? 10_000,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (cause) {
    throw new ServelabError('NOT_READY', `${where}: ${(cause as Error)?.message ?? cause}`, {
      hint: 'is --prometheus-url right and Prometheus running?',
      cause,
      exitCode: 1,
    });
  }
  let body: { status?: string; error?: string; data?: { resultType?: string; result?: RangeSeries[] } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch (cause) {
    throw new ServelabError('BAD_FILE', `${where}: HTTP ${status}, not JSON`, { cause, exitCode: 1 });
  }
  if (body.status !== 'success' || body.data?.resultType !== 'matrix')
    throw new ServelabError('BAD_FLAG', `${where}: HTTP ${status}: ${body.error ?? 'unexpected answer'}`, {
      hint: 'check --start/--end/--step and the metric names',
    });
  return body.data.result ?? [];
}

function portOf(instance: string | undefined): number {
  const m = /:(\d+)$/.exec(instance ?? '');
  return m ? Number(m[1]) : 0;
}

export interface PrometheusReadOptions {
  prometheusUrl: string;
  startUnixS: number;
  endUnixS: number;
  stepS: number;
  /** metric names as servers report them (default: KV usage); each falls back to its other names */
  metrics?: string[];
  /** also read DCGM GPU series when Prometheus has them (default true) */
  dcgm?: boolean;
  /** keep only these ports (instance label) for server metrics */
  ports?: number[];
  timeoutMs?: number;
}

export interface PrometheusReadResult {
  samples: MetricSample[];
  /** requested metric -> the name Prometheus had; null when it had none of its names */
  namesFound: Record<string, string | null>;
  dcgmFound: string[];
}

/** Reads the series and returns them as CSV samples, sorted by time, port, metric. */
export async function readFromPrometheus(opts: PrometheusReadOptions): Promise<PrometheusReadResult> {
  const metrics = opts.metrics && opts.metrics.length > 0 ? opts.metrics : ['vllm:kv_cache_usage_perc'];
  const base = {
    prometheusUrl: opts.prometheusUrl,
    startUnixS: opts.startUnixS,
    endUnixS: opts.endUnixS,
    stepS: opts.stepS,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  };
  const samples: MetricSample[] = [];
  const namesFound: Record<string, string | null> = {};
  for (const m of metrics) {
    const stem = m.endsWith('_total') ? m.slice(0, -6) : m;
    const names = [...new Set([m, ...aliasesOf(stem).flatMap((n) => [n, `${n}_total`])])];
    namesFound[m] = null;
    for (const name of names) {
      const series = (await queryRange({ ...base, query: name })).filter(
        (s) => !opts.ports || opts.ports.includes(portOf(s.metric.instance)),
      );
      if (series.length === 0) continue;
      namesFound[m] = name;
      // combine the series of one instance per timestamp
      const byKey = new Map<string, number[]>();
      for (const s of series) {
        const port = portOf(s.metric.instance);
        for (const [t, v] of s.values) {
          const key = `${port}|${t}`;
          const arr = byKey.get(key) ?? [];
          arr.push(Number(v));
          byKey.set(key, arr);
        }
      }
      const mean = KV_USAGE_NAMES.includes(name);
      for (const [key, vals] of byKey) {
        const [port, t] = key.split('|').map(Number) as [number, number];
        const sum = vals.reduce((a, b) => a + b, 0);
        samples.push({ tsUnixS: t, port, metric: name, value: mean ? sum / vals.length : sum });
      }
      break;
    }
  }
  const dcgmFound: string[] = [];
  if (opts.dcgm !== false) {
    for (const name of DCGM_METRICS) {
      const series = await queryRange({ ...base, query: name });
      if (series.length > 0) dcgmFound.push(name);
      for (const s of series) {
        const gpu = s.metric.gpu ?? s.metric.GPU_I_ID ?? '?';
        const host = s.metric.Hostname ?? s.metric.hostname;
        const metric = `${name}[gpu=${gpu}${host ? ` host=${host}` : ''}]`;
        for (const [t, v] of s.values)
          samples.push({ tsUnixS: t, port: portOf(s.metric.instance), metric, value: Number(v) });
      }
    }
  }
  samples.sort((a, b) => a.tsUnixS - b.tsUnixS || a.port - b.port || a.metric.localeCompare(b.metric));
  return { samples, namesFound, dcgmFound };
}

/** Writes samples as the users' CSV (header + one row per sample). */
export function writeTimeseriesCsv(path: string, samples: MetricSample[]): void {
  writeFileSync(path, `${[TIMESERIES_HEADER, ...samples.map(sampleToCsvLine)].join('\n')}\n`);
}

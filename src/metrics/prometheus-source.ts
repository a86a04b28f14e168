/**
 * Reads the same series from an existing Prometheus server (`/api/v1/query_range`) for users who
 * already scrape their servers, including the DCGM exporter's GPU series when present, and writes
 * them in the users' CSV format. The port column is the scraped target's port (from the
 * `instance` label); an instance with several engines gets one row per engine
 * (`name{engine="n"}`) and a combined row under the bare name, the way the sampler writes them
 * (KV usage: used / total blocks, from vllm:cache_config_info when Prometheus has it, else the
 * mean; others: the sum). The CSV is appended to, never overwritten. DCGM series keep the GPU index in the metric name (`DCGM_FI_DEV_GPU_UTIL[gpu=0]`)
 * because the CSV has no label column.
 */
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'undici';
import { ServelabError } from '../errors.js';
import { aliasesOf, KV_USAGE_NAMES } from './registry.js';
import { engineMetricName, type MetricSample, sampleToCsvLine, TIMESERIES_HEADER } from './timeseries.js';

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

/** Reads the series and returns them as CSV samples, sorted by time, port, metric (engines before the combined row). */
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
  const read = new Set<string>();
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
      // two requested names that resolve to the same series (V0 and V1 names): read it once
      if (read.has(name)) break;
      read.add(name);
      const kv = KV_USAGE_NAMES.includes(name);
      const blocks = kv && name.startsWith('vllm:') ? await blocksPerEngine(base, opts.ports) : new Map();
      samples.push(...combinePerInstance(name, series, kv, blocks));
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
  // per port and metric: the engines' rows, then the combined row (the order the sampler writes)
  const stem = (m: string) => m.split('{')[0]!;
  samples.sort(
    (a, b) =>
      a.tsUnixS - b.tsUnixS ||
      a.port - b.port ||
      stem(a.metric).localeCompare(stem(b.metric)) ||
      Number(b.metric.includes('{')) - Number(a.metric.includes('{')) ||
      a.metric.localeCompare(b.metric, 'en', { numeric: true }),
  );
  return { samples, namesFound, dcgmFound };
}

/** Engine label of a series (vLLM `engine`, SGLang `dp_rank`), if any. */
function engineOf(labels: Record<string, string>): { label: string; engine: string } | undefined {
  for (const label of ['engine', 'dp_rank']) {
    const engine = labels[label];
    if (engine !== undefined) return { label, engine };
  }
  return undefined;
}

/** num_gpu_blocks per `port|engine`, from vllm:cache_config_info (empty when Prometheus has none). */
async function blocksPerEngine(
  base: Omit<PrometheusRangeQuery, 'query'>,
  ports: number[] | undefined,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const series = await queryRange({ ...base, query: 'vllm:cache_config_info' }).catch(() => []);
  for (const s of series) {
    const port = portOf(s.metric.instance);
    const nb = Number(s.metric.num_gpu_blocks);
    if (ports && !ports.includes(port)) continue;
    if (s.metric.engine !== undefined && Number.isFinite(nb) && nb > 0)
      out.set(`${port}|${s.metric.engine}`, nb);
  }
  return out;
}

/**
 * Per instance and timestamp: one sample per engine when the instance has two engines or more
 * (`name{engine="n"}`), and the combined sample under the bare name, as the sampler writes them.
 * KV usage combines as used / total blocks (weighted by num_gpu_blocks when every engine's is
 * known, else the mean); other metrics as the sum.
 */
function combinePerInstance(
  name: string,
  series: RangeSeries[],
  kv: boolean,
  blocks: Map<string, number>,
): MetricSample[] {
  // port|t -> engine (or '' for a series without one) -> values
  const byKey = new Map<string, { label?: string; perEngine: Map<string, number[]> }>();
  for (const s of series) {
    const port = portOf(s.metric.instance);
    const e = engineOf(s.metric);
    for (const [t, v] of s.values) {
      const key = `${port}|${t}`;
      const entry = byKey.get(key) ?? { perEngine: new Map<string, number[]>() };
      if (e && entry.label === undefined) entry.label = e.label;
      const ek = e?.engine ?? '';
      entry.perEngine.set(ek, [...(entry.perEngine.get(ek) ?? []), Number(v)]);
      byKey.set(key, entry);
    }
  }
  const out: MetricSample[] = [];
  for (const [key, { label, perEngine }] of byKey) {
    const [port, t] = key.split('|').map(Number) as [number, number];
    const all = [...perEngine.values()].flat();
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const engineValue = (xs: number[]) => (kv ? sum(xs) / xs.length : sum(xs));
    let value = kv ? sum(all) / all.length : sum(all);
    const engines = [...perEngine.keys()].filter((e) => e !== '');
    if (kv && engines.length === perEngine.size && engines.every((e) => blocks.has(`${port}|${e}`))) {
      const w = engines.map((e) => blocks.get(`${port}|${e}`)!);
      value = sum(engines.map((e, i) => engineValue(perEngine.get(e)!) * w[i]!)) / sum(w);
    }
    if (label !== undefined && engines.length >= 2)
      for (const e of engines)
        out.push({
          tsUnixS: t,
          port,
          metric: engineMetricName(name, label, e),
          value: engineValue(perEngine.get(e)!),
        });
    out.push({ tsUnixS: t, port, metric: name, value });
  }
  return out;
}

/**
 * Writes samples as the users' CSV: appends to an existing file with the same header (the header
 * only when the file is new or empty); refuses a file with another header.
 */
export function writeTimeseriesCsv(path: string, samples: MetricSample[]): void {
  let header = true;
  if (existsSync(path) && statSync(path).size > 0) {
    const text = readFileSync(path, 'utf8');
    const first = text.split('\n')[0]!.replace(/\r$/, '');
    if (first !== TIMESERIES_HEADER)
      throw new ServelabError('BAD_FILE', `${path} exists with another header ("${first.slice(0, 80)}")`, {
        hint: 'give a new --out file, or remove the old one',
      });
    header = false;
    // a file cut mid-line gets its line ended first, so the next row starts on its own line
    if (!text.endsWith('\n')) appendFileSync(path, '\n');
  }
  const lines = [...(header ? [TIMESERIES_HEADER] : []), ...samples.map(sampleToCsvLine)];
  if (lines.length > 0) appendFileSync(path, `${lines.join('\n')}\n`);
}

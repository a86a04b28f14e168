import { analyzeBench, argvParams, type BenchStage } from './bench-latency.js';
import { isKvUsageMetric, kvEngineOf } from './kv-window.js';
import type { BenchRunInput } from './run-types.js';

/** One row of experiment_results.csv: a bench run (or one stage of a multi-stage run). */
export interface AggregateRow {
  run: string;
  dir: string;
  stage: number | null;
  partial: boolean;
  params: Record<string, string | number | boolean | null>;
  metrics: Record<string, number | null>;
  /** where the metrics came from */
  source: 'requests.jsonl' | 'summary.json';
}

export const AGGREGATE_METRICS = [
  'output_throughput_tok_s',
  'request_throughput_req_s',
  'success_rate',
  'ttft_p50_ms',
  'ttft_p95_ms',
  'ttft_p99_ms',
  'tpot_p50_ms',
  'tpot_p95_ms',
  'itl_p50_ms',
  'itl_p95_ms',
  'itl_p99_ms',
  'e2e_p50_ms',
  'e2e_p95_ms',
  'e2e_p99_ms',
  'requests',
  'errors',
  'preemptions',
  'kv_usage_max',
  'kv_usage_mean',
  'kv_capacity_blocks',
  'kv_capacity_tokens',
] as const;

export const AGGREGATE_DEFINITIONS: Record<string, string> = {
  output_throughput_tok_s:
    'output tokens of ok requests / stage duration (first scheduled send -> last end), as `servelab bench` computes it',
  request_throughput_req_s: 'ok requests / stage duration',
  success_rate: 'ok requests / all non-warm-up requests',
  'ttft_*_ms': 'time to first non-empty token, percentiles over ok requests (numpy linear interpolation)',
  'tpot_*_ms': '(E2E - TTFT) / (output tokens - 1) per ok request',
  'itl_*_ms': 'gaps between consecutive content chunks, pooled',
  'e2e_*_ms': 'sent -> last content chunk',
  preemptions: 'increase of vllm:num_preemptions_total over the run (when the server was sampled)',
  kv_usage_max: 'largest KV usage fraction sampled (any port)',
  kv_capacity_blocks:
    "the server's KV cache in blocks: num_gpu_blocks of vllm:cache_config_info on its /metrics (summary.json server.numGpuBlocks)",
  kv_capacity_tokens: 'kv_capacity_blocks x block_size',
  pareto: 'a row is Pareto-optimal when no other row is at least as good on both metrics and better on one',
};

/** lower is better for latencies, errors and preemptions; higher for the rest */
export function defaultDirection(metric: string): 'min' | 'max' {
  return /_ms$|latency|errors|preempt|lag/.test(metric) ? 'min' : 'max';
}

function flatten(obj: unknown, prefix: string, out: Record<string, string | number | boolean | null>): void {
  if (obj === null || obj === undefined) return;
  if (typeof obj !== 'object' || Array.isArray(obj)) {
    const v = Array.isArray(obj)
      ? JSON.stringify(obj)
      : typeof obj === 'number' || typeof obj === 'boolean' || typeof obj === 'string'
        ? obj
        : String(obj);
    out[prefix] = v;
    return;
  }
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (/key|token|secret|password/i.test(k) && typeof v === 'string') continue;
    flatten(v, prefix ? `${prefix}.${k}` : k, out);
  }
}

/** bench flags that say where results go, not how the run was configured */
const OUTPUT_ARGS = new Set(['out', 'result-dir', 'result-filename', 'save-result', 'json', 'quiet']);

/** Config parameters of a bench run: run.json `config`, then `args`, then summary.json `config`. */
export function runParams(run: BenchRunInput): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  flatten(run.summary?.config, '', out);
  for (const [k, v] of Object.entries(argvParams(run.run.args))) if (!OUTPUT_ARGS.has(k)) out[k] = v;
  flatten(run.run.config, '', out);
  return out;
}

function kvMetrics(run: BenchRunInput): {
  preemptions: number | null;
  kvMax: number | null;
  kvMean: number | null;
} {
  let pMin = Number.POSITIVE_INFINITY;
  let pMax = Number.NEGATIVE_INFINITY;
  let kvMax = Number.NEGATIVE_INFINITY;
  let kvSum = 0;
  let kvN = 0;
  for (const s of run.kv) {
    const base = s.metric.split('{')[0];
    if (base === 'vllm:num_preemptions_total' || base === 'vllm:num_preemptions') {
      pMin = Math.min(pMin, s.value);
      pMax = Math.max(pMax, s.value);
    } else if (isKvUsageMetric(s.metric) && kvEngineOf(s.metric) === undefined) {
      // the port's combined row only (used / total blocks); per-engine rows are beside it
      kvMax = Math.max(kvMax, s.value);
      kvSum += s.value;
      kvN++;
    }
  }
  return {
    preemptions: Number.isFinite(pMax) ? pMax - pMin : null,
    kvMax: Number.isFinite(kvMax) ? kvMax : null,
    kvMean: kvN ? kvSum / kvN : null,
  };
}

function stageMetrics(s: BenchStage): Record<string, number | null> {
  return {
    output_throughput_tok_s: s.outputTokensPerS,
    request_throughput_req_s: s.requestsPerS,
    success_rate: s.successRate,
    ttft_p50_ms: s.ttftMs.p50,
    ttft_p95_ms: s.ttftMs.p95,
    ttft_p99_ms: s.ttftMs.p99,
    tpot_p50_ms: s.tpotMs.p50,
    tpot_p95_ms: s.tpotMs.p95,
    itl_p50_ms: s.itlMs.p50,
    itl_p95_ms: s.itlMs.p95,
    itl_p99_ms: s.itlMs.p99,
    e2e_p50_ms: s.e2eMs.p50,
    e2e_p95_ms: s.e2eMs.p95,
    e2e_p99_ms: s.e2eMs.p99,
    requests: s.requests,
    errors: s.errors + s.incomplete,
  };
}

/** vLLM bench-compatible keys of a summary.json, for runs whose requests.jsonl is gone. */
function fromVllmKeys(sum: Record<string, unknown>): Record<string, number | null> {
  const n = (k: string) => (typeof sum[k] === 'number' ? (sum[k] as number) : null);
  return {
    output_throughput_tok_s: n('output_throughput'),
    request_throughput_req_s: n('request_throughput'),
    success_rate: n('completed') !== null && n('num_prompts') ? n('completed')! / n('num_prompts')! : null,
    ttft_p50_ms: n('median_ttft_ms'),
    ttft_p95_ms: n('p95_ttft_ms'),
    ttft_p99_ms: n('p99_ttft_ms'),
    tpot_p50_ms: n('median_tpot_ms'),
    tpot_p95_ms: n('p95_tpot_ms'),
    itl_p50_ms: n('median_itl_ms'),
    itl_p95_ms: n('p95_itl_ms'),
    itl_p99_ms: n('p99_itl_ms'),
    e2e_p50_ms: n('median_e2el_ms'),
    e2e_p95_ms: n('p95_e2el_ms'),
    e2e_p99_ms: n('p99_e2el_ms'),
    requests: n('num_prompts'),
    errors: n('failed'),
  };
}

/** summary.json `server` (what /metrics said over the run): counters the KV samples may lack. */
function serverOf(run: BenchRunInput): {
  preemptions: number | null;
  kvUsageMax: number | null;
  kvUsageMean: number | null;
  numGpuBlocks: number | null;
  blockSize: number | null;
} {
  const s = run.summary?.server as Record<string, unknown> | undefined;
  const n = (k: string) => (s && typeof s[k] === 'number' && Number.isFinite(s[k]) ? (s[k] as number) : null);
  return {
    preemptions: n('preemptions'),
    kvUsageMax: n('kvUsageMax'),
    kvUsageMean: n('kvUsageMean'),
    numGpuBlocks: n('numGpuBlocks'),
    blockSize: n('blockSize'),
  };
}

export function aggregateRows(runs: readonly BenchRunInput[]): AggregateRow[] {
  const rows: AggregateRow[] = [];
  for (const run of runs) {
    const a = analyzeBench(run);
    const params = runParams(run);
    const kv = kvMetrics(run);
    const server = serverOf(run);
    const extra = {
      preemptions: kv.preemptions ?? server.preemptions,
      kv_usage_max: kv.kvMax ?? server.kvUsageMax,
      kv_usage_mean: kv.kvMean ?? server.kvUsageMean,
      kv_capacity_blocks: server.numGpuBlocks,
      kv_capacity_tokens:
        server.numGpuBlocks !== null && server.blockSize !== null
          ? server.numGpuBlocks * server.blockSize
          : null,
    };
    const name = String(run.run.name ?? run.dir.split('/').filter(Boolean).pop());
    if (a.stages.length === 0 && run.summary) {
      rows.push({
        run: name,
        dir: run.dir,
        stage: null,
        partial: a.partial,
        params,
        metrics: { ...fromVllmKeys(run.summary), ...extra },
        source: 'summary.json',
      });
      continue;
    }
    for (const s of a.stages)
      rows.push({
        run: name,
        dir: run.dir,
        stage: a.stages.length > 1 ? s.stage : null,
        partial: a.partial,
        params: a.stages.length > 1 ? { ...params, stage_target: s.target } : params,
        metrics: { ...stageMetrics(s), ...extra },
        source: 'requests.jsonl',
      });
  }
  return rows;
}

export interface ParamComparison {
  param: string;
  metric: string;
  direction: 'min' | 'max';
  groups: { value: string; n: number; mean: number | null; min: number | null; max: number | null }[];
  best: string | null;
}

export function compareParam(rows: readonly AggregateRow[], param: string, metric: string): ParamComparison {
  const direction = defaultDirection(metric);
  const groups = new Map<string, number[]>();
  for (const r of rows) {
    if (!(param in r.params)) continue;
    const key = String(r.params[param]);
    const v = r.metrics[metric];
    const arr = groups.get(key) ?? [];
    if (typeof v === 'number' && Number.isFinite(v)) arr.push(v);
    groups.set(key, arr);
  }
  const out = [...groups]
    .map(([value, vs]) => ({
      value,
      n: vs.length,
      mean: vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null,
      min: vs.length ? Math.min(...vs) : null,
      max: vs.length ? Math.max(...vs) : null,
    }))
    .sort((a, b) => {
      const na = Number(a.value);
      const nb = Number(b.value);
      return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a.value.localeCompare(b.value);
    });
  const ranked = out
    .filter((g) => g.mean !== null)
    .sort((a, b) => (direction === 'max' ? b.mean! - a.mean! : a.mean! - b.mean!));
  return { param, metric, direction, groups: out, best: ranked[0]?.value ?? null };
}

export interface ParetoAxis {
  metric: string;
  direction: 'min' | 'max';
}

/** Parses `output_throughput_tok_s:max,ttft_p95_ms:min`. */
export function parseParetoSpec(text: string): [ParetoAxis, ParetoAxis] | null {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 2) return null;
  const axes = parts.map((p) => {
    const [metric, dir] = p.split(':');
    if (!metric) return null;
    const direction =
      dir === undefined ? defaultDirection(metric) : dir === 'min' || dir === 'max' ? dir : null;
    return direction ? { metric, direction } : null;
  });
  if (!axes[0] || !axes[1]) return null;
  return [axes[0], axes[1]];
}

export interface ParetoResult {
  x: ParetoAxis;
  y: ParetoAxis;
  /** indexes into rows, sorted along x */
  frontier: number[];
  /** rows without both metrics */
  skipped: number;
}

export function paretoFrontier(rows: readonly AggregateRow[], x: ParetoAxis, y: ParetoAxis): ParetoResult {
  const pts: { i: number; x: number; y: number }[] = [];
  let skipped = 0;
  rows.forEach((r, i) => {
    const a = r.metrics[x.metric];
    const b = r.metrics[y.metric];
    if (typeof a === 'number' && Number.isFinite(a) && typeof b === 'number' && Number.isFinite(b))
      pts.push({ i, x: x.direction === 'max' ? a : -a, y: y.direction === 'max' ? b : -b });
    else skipped++;
  });
  // maximise both after the sign flip: p dominates q when p >= q on both and > on one
  const frontier = pts.filter(
    (q) => !pts.some((p) => p !== q && p.x >= q.x && p.y >= q.y && (p.x > q.x || p.y > q.y)),
  );
  frontier.sort((a, b) => a.x - b.x);
  return { x, y, frontier: frontier.map((p) => p.i), skipped };
}

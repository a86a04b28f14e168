import type { RequestRecord } from '../loadgen/records.js';
import { summarize } from '../loadgen/summary.js';
import type { BenchRunInput } from './run-types.js';
import type { Distribution } from './stats.js';

export interface LatencyStats {
  count: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface BenchStage {
  stage: number;
  /** the requested rate (req/s) or concurrency when the bench recorded it; else null */
  target: number | null;
  targetLabel: string;
  requests: number;
  ok: number;
  errors: number;
  incomplete: number;
  errorsByKind: Record<string, number>;
  durationS: number;
  requestsPerS: number | null;
  outputTokensPerS: number | null;
  successRate: number | null;
  ttftMs: LatencyStats;
  tpotMs: LatencyStats;
  itlMs: LatencyStats;
  e2eMs: LatencyStats;
  scheduleLagMs: LatencyStats;
}

export interface BenchAnalysis {
  v: 1;
  kind: 'bench';
  name: string;
  partial: boolean;
  partialReasons: string[];
  definitions: Record<string, string>;
  stages: BenchStage[];
  warnings: string[];
}

export const BENCH_DEFINITIONS: Record<string, string> = {
  ttftMs:
    'request sent -> first chunk with non-empty content / reasoning / tool-call delta (ok requests only)',
  tpotMs: '(E2E - TTFT) / (output tokens - 1), per ok request with more than one output token',
  itlMs: 'every gap between consecutive content chunks, pooled over ok requests',
  e2eMs: 'request sent -> last content chunk (ok requests only)',
  scheduleLagMs: 'sent - scheduled: time a request waited in the client before it was sent',
  requestsPerS:
    'ok requests / stage duration (first scheduled send -> last end), as `servelab bench` computes it',
  outputTokensPerS: 'output tokens of ok requests / stage duration',
  successRate: 'ok requests / all non-warm-up requests of the stage',
};

function stats(d: Distribution): LatencyStats {
  const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? null : x);
  return {
    count: d.count,
    mean: f(d.mean),
    p50: f(d.percentiles[50]),
    p90: f(d.percentiles[90]),
    p95: f(d.percentiles[95]),
    p99: f(d.percentiles[99]),
    max: f(d.max),
  };
}

/**
 * Latency statistics per stage (rate / concurrency step) of a bench run, computed by the bench's
 * own pure summary (src/loadgen/summary.ts) so `bench` and `analyze` never disagree. Warm-up
 * requests excluded; errored and incomplete requests counted apart, never in percentiles.
 */
export function benchStages(
  requests: readonly RequestRecord[],
  targets: Map<number, { target: number | null; label: string }> = new Map(),
): BenchStage[] {
  const byStage = new Map<number, RequestRecord[]>();
  for (const r of requests) {
    if (r.warmup) continue;
    const s = r.stage ?? 0;
    const arr = byStage.get(s);
    if (arr) arr.push(r);
    else byStage.set(s, [r]);
  }
  const out: BenchStage[] = [];
  for (const [stage, rs] of [...byStage].sort((a, b) => a[0] - b[0])) {
    const sum = summarize(rs, { percentiles: [50, 90, 95, 99] });
    const errorsByKind: Record<string, number> = {};
    for (const [k, n] of Object.entries(sum.counts.errorByKind)) errorsByKind[`error: ${k}`] = n;
    for (const [k, n] of Object.entries(sum.counts.incompleteByKind)) errorsByKind[`incomplete: ${k}`] = n;
    const t = targets.get(stage);
    const hasRate = sum.durationS > 0;
    out.push({
      stage,
      target: t?.target ?? null,
      targetLabel: t?.label ?? `stage ${stage}`,
      requests: sum.counts.measured,
      ok: sum.counts.ok,
      errors: sum.counts.error,
      incomplete: sum.counts.incomplete,
      errorsByKind,
      durationS: sum.durationS,
      requestsPerS: hasRate ? sum.throughput.requestsPerS : null,
      outputTokensPerS: hasRate ? sum.throughput.outputTokensPerS : null,
      successRate: sum.counts.measured ? sum.counts.ok / sum.counts.measured : null,
      ttftMs: stats(sum.latency.ttftMs),
      tpotMs: stats(sum.latency.tpotMs),
      itlMs: stats(sum.latency.itlMs),
      e2eMs: stats(sum.latency.e2eMs),
      scheduleLagMs: stats(sum.latency.scheduleLagMs),
    });
  }
  return out;
}

/** Stage targets as the bench run recorded them: summary.json `stages[]` or run.json args. */
export function stageTargets(run: BenchRunInput): Map<number, { target: number | null; label: string }> {
  const out = new Map<number, { target: number | null; label: string }>();
  const stages = run.summary?.stages;
  const fromArrivals = (idx: number, a: unknown) => {
    if (typeof a !== 'string') return false;
    const rate = /@([\d.]+)\/s/.exec(a);
    const closed = /closed\(c=(\d+)\)/.exec(a);
    if (rate) out.set(idx, { target: Number(rate[1]), label: a });
    else if (closed) out.set(idx, { target: Number(closed[1]), label: a });
    else out.set(idx, { target: null, label: a });
    return true;
  };
  if (Array.isArray(stages)) {
    stages.forEach((s: Record<string, unknown>, i: number) => {
      const idx = typeof s?.stage === 'number' ? s.stage : i;
      if (fromArrivals(idx, s?.arrivals)) return;
      const rate = num(s?.requestRate ?? s?.rate ?? s?.ratePerSec);
      if (rate !== null) out.set(idx, { target: rate, label: `${rate} req/s` });
    });
  } else if (run.summary) fromArrivals(0, run.summary.arrivals);
  if (out.size === 0) {
    const p = argvParams(run.run.args);
    const rate = num(p['request-rate'] ?? p.requestRate ?? p.rate);
    if (rate !== null) out.set(0, { target: rate, label: `${rate} req/s` });
  }
  return out;
}

/**
 * Parameters from run.json `args`: an argv array as `servelab bench` writes it
 * (`--request-rate 4 --flag --x=y`), or an object.
 */
export function argvParams(args: unknown): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const val = (v: string): string | number => (v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v);
  if (Array.isArray(args)) {
    for (let i = 0; i < args.length; i++) {
      const a = String(args[i]);
      if (!a.startsWith('--')) continue;
      const eq = a.indexOf('=');
      if (eq > 0) {
        out[a.slice(2, eq)] = val(a.slice(eq + 1));
        continue;
      }
      const next = args[i + 1];
      if (next !== undefined && !String(next).startsWith('--')) {
        out[a.slice(2)] = val(String(next));
        i++;
      } else out[a.slice(2)] = true;
    }
  } else if (args && typeof args === 'object') {
    for (const [k, v] of Object.entries(args as Record<string, unknown>))
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

function num(x: unknown): number | null {
  if (typeof x === 'number' && Number.isFinite(x)) return x;
  if (typeof x === 'string' && x.trim() !== '' && Number.isFinite(Number(x))) return Number(x);
  return null;
}

export function analyzeBench(run: BenchRunInput): BenchAnalysis {
  const partialReasons: string[] = [];
  for (const s of run.skipped)
    partialReasons.push(
      `${s.file}: ${s.lines} unparsable line(s) skipped${s.lastLineOnly ? ' (a truncated last line)' : ''}`,
    );
  for (const m of run.missing) partialReasons.push(`${m} is missing`);
  if (!run.summary) partialReasons.push('summary.json is missing (the bench did not finish?)');
  const stages = benchStages(run.requests, stageTargets(run));
  const warnings: string[] = [];
  const own = [
    run.summary?.warnings,
    ...(Array.isArray(run.summary?.stages)
      ? run.summary.stages.map((s: Record<string, unknown>) => s?.warnings)
      : []),
  ];
  for (const ws of own) if (Array.isArray(ws)) for (const w of ws) warnings.push(`bench: ${String(w)}`);
  for (const s of stages) {
    if (s.errors + s.incomplete > 0)
      warnings.push(
        `${s.targetLabel}: ${s.errors} errored and ${s.incomplete} incomplete request(s), kept out of the latency percentiles`,
      );
  }
  return {
    v: 1,
    kind: 'bench',
    name: String(run.run.name ?? run.dir),
    partial: partialReasons.length > 0,
    partialReasons,
    definitions: BENCH_DEFINITIONS,
    stages,
    warnings,
  };
}

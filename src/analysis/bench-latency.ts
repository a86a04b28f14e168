import type { RequestRecord } from '../loadgen/records.js';
import type { BenchRunInput } from './run-types.js';
import { describe } from './stats.js';

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
  requestsPerS: 'ok requests / stage duration (first send -> last end)',
  outputTokensPerS: 'output tokens of ok requests / stage duration',
  successRate: 'ok requests / all non-warm-up requests of the stage',
};

function stats(values: number[]): LatencyStats {
  const d = describe(values);
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

/** Latency statistics per stage (rate / concurrency step) of a bench run. Warm-up requests excluded. */
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
    const ttft: number[] = [];
    const tpot: number[] = [];
    const itl: number[] = [];
    const e2e: number[] = [];
    const lag: number[] = [];
    const errorsByKind: Record<string, number> = {};
    let ok = 0;
    let errors = 0;
    let incomplete = 0;
    let outTokens = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    for (const r of rs) {
      if (r.sentMs < first) first = r.sentMs;
      if (r.endMs > last) last = r.endMs;
      lag.push(r.sentMs - r.scheduledMs);
      if (r.status !== 'ok') {
        if (r.status === 'error') errors++;
        else incomplete++;
        const k = `${r.status}: ${r.errorKind ?? 'unknown'}`;
        errorsByKind[k] = (errorsByKind[k] ?? 0) + 1;
        continue;
      }
      ok++;
      outTokens += r.outputTokens;
      const end = r.lastTokenMs ?? r.endMs;
      const e = end - r.sentMs;
      e2e.push(e);
      if (r.firstTokenMs !== undefined) {
        const t = r.firstTokenMs - r.sentMs;
        ttft.push(t);
        if (r.outputTokens > 1) tpot.push((e - t) / (r.outputTokens - 1));
      }
      const offs = r.chunkOffsetsMs ?? [];
      for (let i = 1; i < offs.length; i++) itl.push(offs[i]! - offs[i - 1]!);
    }
    const durationS = Number.isFinite(first) && last > first ? (last - first) / 1000 : 0;
    const t = targets.get(stage);
    out.push({
      stage,
      target: t?.target ?? null,
      targetLabel: t?.label ?? `stage ${stage}`,
      requests: rs.length,
      ok,
      errors,
      incomplete,
      errorsByKind,
      durationS,
      requestsPerS: durationS > 0 ? ok / durationS : null,
      outputTokensPerS: durationS > 0 ? outTokens / durationS : null,
      successRate: rs.length ? ok / rs.length : null,
      ttftMs: stats(ttft),
      tpotMs: stats(tpot),
      itlMs: stats(itl),
      e2eMs: stats(e2e),
      scheduleLagMs: stats(lag),
    });
  }
  return out;
}

/** Stage targets as the bench run recorded them: summary.json `stages[]` or run.json args. */
export function stageTargets(run: BenchRunInput): Map<number, { target: number | null; label: string }> {
  const out = new Map<number, { target: number | null; label: string }>();
  const stages = run.summary?.stages;
  if (Array.isArray(stages)) {
    stages.forEach((s: Record<string, unknown>, i: number) => {
      const idx = typeof s?.stage === 'number' ? s.stage : i;
      const rate = num(s?.requestRate ?? s?.rate ?? s?.ratePerSec ?? s?.request_rate);
      const conc = num(s?.concurrency ?? s?.maxConcurrency ?? s?.max_concurrency);
      if (rate !== null) out.set(idx, { target: rate, label: `${rate} req/s` });
      else if (conc !== null) out.set(idx, { target: conc, label: `C=${conc}` });
    });
  }
  if (out.size === 0) {
    const a = run.run.args ?? {};
    const rate = num(a.requestRate ?? a.rate ?? a['request-rate'] ?? a.request_rate);
    if (rate !== null) out.set(0, { target: rate, label: `${rate} req/s` });
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
  const selfCheck = run.summary?.warnings;
  if (Array.isArray(selfCheck)) for (const w of selfCheck) warnings.push(`bench self-check: ${String(w)}`);
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

/**
 * `--slo ttft:P99<2000ms,tpot:P99<50ms`: thresholds as data (like k6's), checked against a
 * stage's summary. Metrics: ttft, tpot, itl, e2el (alias e2e); statistic P<p> (0 < p <= 100) or
 * mean; operators < and <=; units ms (default) or s. Errors count too: a stage whose share of
 * requests that did not end ok exceeds `maxErrorShare` fails, whatever its latencies.
 */
import { ServelabError } from '../errors.js';
import type { BenchSummary, LatencySet } from './summary.js';

export type SloMetric = 'ttft' | 'tpot' | 'itl' | 'e2el';

export interface SloThreshold {
  metric: SloMetric;
  /** a percentile in (0, 100], or 'mean' */
  stat: number | 'mean';
  op: '<' | '<=';
  limitMs: number;
  /** as written */
  text: string;
}

const FIELD: Record<SloMetric, keyof LatencySet> = {
  ttft: 'ttftMs',
  tpot: 'tpotMs',
  itl: 'itlMs',
  e2el: 'e2eMs',
};

const SYNTAX =
  'e.g. --slo ttft:P99<2000ms,tpot:P99<50ms (metrics ttft, tpot, itl, e2el; P<n> or mean; < or <=; ms or s)';

export function parseSlo(text: string): SloThreshold[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0)
    throw new ServelabError('BAD_FLAG', `--slo "${text}": no thresholds`, { hint: SYNTAX });
  return parts.map((p) => {
    const m = /^([a-z0-9]+)\s*:\s*(p\d+(?:\.\d+)?|mean|avg)\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*(ms|s)?$/i.exec(p);
    if (!m) throw new ServelabError('BAD_FLAG', `--slo "${p}": not metric:STAT<LIMIT`, { hint: SYNTAX });
    const rawMetric = m[1]!.toLowerCase();
    const metric = (rawMetric === 'e2e' ? 'e2el' : rawMetric) as SloMetric;
    if (!(metric in FIELD))
      throw new ServelabError('BAD_FLAG', `--slo "${p}": unknown metric "${m[1]}"`, { hint: SYNTAX });
    const rawStat = m[2]!.toLowerCase();
    const stat = rawStat === 'mean' || rawStat === 'avg' ? 'mean' : Number(rawStat.slice(1));
    if (stat !== 'mean' && !(stat > 0 && stat <= 100))
      throw new ServelabError('BAD_FLAG', `--slo "${p}": percentile ${m[2]} is not in (0, 100]`, {
        hint: SYNTAX,
      });
    const limit = Number(m[4]) * ((m[5] ?? 'ms').toLowerCase() === 's' ? 1000 : 1);
    if (!(limit > 0))
      throw new ServelabError('BAD_FLAG', `--slo "${p}": the limit must be > 0`, { hint: SYNTAX });
    return { metric, stat, op: m[3] as '<' | '<=', limitMs: limit, text: p };
  });
}

/** The percentiles a summary must compute for these thresholds. */
export function sloPercentiles(slo: readonly SloThreshold[]): number[] {
  return slo.flatMap((t) => (t.stat === 'mean' ? [] : [t.stat]));
}

export interface SloCheck {
  text: string;
  /** null: no ok request had this metric */
  valueMs: number | null;
  ok: boolean;
}

export interface SloVerdict {
  ok: boolean;
  checks: SloCheck[];
  /** share of measured requests that did not end ok */
  errorShare: number;
  /** the first failure, in words */
  why?: string;
}

export function evaluateSlo(s: BenchSummary, slo: readonly SloThreshold[], maxErrorShare = 0.01): SloVerdict {
  const checks = slo.map((t): SloCheck => {
    const d = s.latency[FIELD[t.metric]];
    const v = d.count === 0 ? Number.NaN : t.stat === 'mean' ? d.mean : d.percentiles[t.stat];
    if (v === undefined || !Number.isFinite(v)) return { text: t.text, valueMs: null, ok: false };
    return { text: t.text, valueMs: v, ok: t.op === '<' ? v < t.limitMs : v <= t.limitMs };
  });
  const measured = s.counts.measured;
  const errorShare = measured > 0 ? (measured - s.counts.ok) / measured : 1;
  const bad = checks.find((c) => !c.ok);
  let why: string | undefined;
  if (errorShare > maxErrorShare)
    why = `${(errorShare * 100).toFixed(1)} % of requests did not end ok (> ${(maxErrorShare * 100).toFixed(1)} %)`;
  else if (bad)
    why = bad.valueMs === null ? `${bad.text}: no value` : `${bad.text}: was ${bad.valueMs.toFixed(1)} ms`;
  return { ok: why === undefined, checks, errorShare, ...(why ? { why } : {}) };
}

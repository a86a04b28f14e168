import type { AggregateRow, ParamComparison, ParetoResult } from '../analysis/aggregate.js';
import type { BenchAnalysis } from '../analysis/bench-latency.js';
import type { CellSummary } from '../analysis/cell-summary.js';
import type { Comparison } from '../analysis/compare.js';
import { kvSeries } from '../analysis/kv-window.js';
import type { CellInput } from '../analysis/run-types.js';
import type { KvPoint } from './charts.js';
import type { GridReport } from './scenario-report.js';

/** Everything a report shows, already analysed. Built by the caller; rendered without I/O. */
export interface ReportData {
  title: string;
  /** ISO time the caller generated it (the renderers read no clock) */
  generatedAt: string;
  sources: string[];
  cells: CellReportData[];
  comparison: Comparison | null;
  bench: BenchAnalysis[];
  aggregate: { rows: AggregateRow[]; pareto: ParetoResult | null; param: ParamComparison | null } | null;
  /** loader notes (skipped lines, missing files) shown with the warnings */
  notes: string[];
  /** bench runs with a grid scenario (`servelab bench --scenario grid`) */
  grids?: GridReport[];
}

export interface CellReportData {
  summary: CellSummary;
  /** KV usage on the chosen port, seconds since the first dispatch, at most ~maxPoints points */
  kv: KvPoint[];
  /** empirical CDF of ok-task completion times: (seconds, fraction finished), thinned to ~maxPoints */
  completionCdf: { tS: number; p: number }[];
}

/** Keeps the first, last, min and max of each bucket so peaks and the threshold crossings survive. */
export function thinSeries(points: readonly KvPoint[], maxPoints: number): KvPoint[] {
  if (points.length <= maxPoints) return [...points];
  const buckets = Math.max(1, Math.floor(maxPoints / 4));
  const size = points.length / buckets;
  const out: KvPoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * size);
    const to = Math.min(points.length, Math.floor((b + 1) * size));
    if (to <= from) continue;
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      if (points[i]!.value < points[lo]!.value) lo = i;
      if (points[i]!.value > points[hi]!.value) hi = i;
    }
    for (const i of [...new Set([from, lo, hi, to - 1])].sort((a, b) => a - b)) out.push(points[i]!);
  }
  return out;
}

export function cellReportData(cell: CellInput, summary: CellSummary, maxPoints = 600): CellReportData {
  const origin = summary.outside.firstDispatchMs ?? cell.kv[0]?.tsMs ?? 0;
  const { series } = kvSeries(cell.kv, summary.kv.port, summary.kv.engine?.asked);
  const kv = thinSeries(
    // a file in percents is charted as the fractions the window was computed from
    series.map((s) => ({
      tS: (s.tsMs - origin) / 1000,
      value: summary.kv.percentScaled ? s.value / 100 : s.value,
    })),
    maxPoints,
  );
  const times = cell.tasks
    .filter((t) => t.status === 'ok')
    .map((t) => (t.endMs - t.startMs) / 1000)
    .sort((a, b) => a - b);
  // a CDF needs fewer points than a time series to look exact at report size
  const step = Math.max(1, Math.ceil(times.length / Math.min(maxPoints, 250)));
  const completionCdf: { tS: number; p: number }[] = [];
  times.forEach((tS, i) => {
    if (i % step === 0 || i === times.length - 1) completionCdf.push({ tS, p: (i + 1) / times.length });
  });
  return { summary, kv, completionCdf };
}

import {
  type AggregateRow,
  aggregateRows,
  compareParam,
  type ParamComparison,
  type ParetoAxis,
  type ParetoResult,
  paretoFrontier,
} from '../analysis/aggregate.js';
import { analyzeAgentRun } from '../analysis/analyze-run.js';
import { analyzeBench, type BenchAnalysis } from '../analysis/bench-latency.js';
import type { AnalyzeOptions, CellSummary } from '../analysis/cell-summary.js';
import { type Comparison, compareCells } from '../analysis/compare.js';
import type { BenchRunInput, RunInput } from '../analysis/run-types.js';
import { type CellReportData, cellReportData, type ReportData } from './report-data.js';
import { gridReports } from './scenario-report.js';

export interface AnalysedRuns {
  cells: CellReportData[];
  /** cell summaries per agent run dir, in input order */
  perRun: { dir: string; summaries: CellSummary[] }[];
  bench: BenchAnalysis[];
  benchRuns: BenchRunInput[];
  comparison: Comparison | null;
  aggregate: { rows: AggregateRow[]; pareto: ParetoResult | null; param: ParamComparison | null } | null;
  notes: string[];
}

export interface BuildOptions extends AnalyzeOptions {
  baseline?: string;
  pareto?: [ParetoAxis, ParetoAxis];
  compareParam?: { name: string; metric: string };
}

export const DEFAULT_PARETO: [ParetoAxis, ParetoAxis] = [
  { metric: 'output_throughput_tok_s', direction: 'max' },
  { metric: 'ttft_p95_ms', direction: 'min' },
];

/** Pure: loaded runs -> every analysis a report shows. */
export function analyseRuns(runs: readonly RunInput[], opts: BuildOptions = {}): AnalysedRuns {
  const cells: CellReportData[] = [];
  const perRun: AnalysedRuns['perRun'] = [];
  const benchRuns: BenchRunInput[] = [];
  const notes: string[] = [];
  for (const run of runs) {
    if (run.kind === 'bench') {
      benchRuns.push(run);
      continue;
    }
    const summaries = analyzeAgentRun(run, opts);
    if (runs.filter((r) => r.kind === 'agent').length > 1)
      for (const x of summaries) x.source = run.dir.split(/[\\/]/).filter(Boolean).pop() ?? run.dir;
    perRun.push({ dir: run.dir, summaries });
    run.cells.forEach((c, i) => {
      cells.push(cellReportData(c, summaries[i]!));
    });
  }
  const all = cells.map((c) => c.summary);
  const comparison = all.length ? compareCells(all, opts.baseline ? { baseline: opts.baseline } : {}) : null;
  const bench = benchRuns.map(analyzeBench);
  let aggregate: AnalysedRuns['aggregate'] = null;
  if (benchRuns.length) {
    const rows = aggregateRows(benchRuns);
    const [x, y] = opts.pareto ?? DEFAULT_PARETO;
    const pareto = benchRuns.length > 1 || rows.length > 1 ? paretoFrontier(rows, x, y) : null;
    if (pareto?.skipped)
      notes.push(`pareto: ${pareto.skipped} row(s) lack ${x.metric} or ${y.metric} and were left out`);
    const param = opts.compareParam
      ? compareParam(rows, opts.compareParam.name, opts.compareParam.metric)
      : null;
    aggregate = { rows, pareto, param };
  }
  return { cells, perRun, bench, benchRuns, comparison, aggregate, notes };
}

export function reportData(
  a: AnalysedRuns,
  meta: { title: string; generatedAt: string; sources: string[] },
): ReportData {
  return {
    ...meta,
    cells: a.cells,
    comparison: a.comparison,
    bench: a.bench,
    aggregate: a.aggregate && (a.aggregate.rows.length > 1 || a.aggregate.param) ? a.aggregate : null,
    notes: a.notes,
    grids: gridReports(a.benchRuns),
  };
}

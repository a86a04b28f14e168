import { cellLabel } from '../analysis/compare.js';
import {
  type CdfPoint,
  type Chart,
  cdfChart,
  type KvPoint,
  kvChart,
  type LatencyPoint,
  latencyChart,
  type ParamPoint,
  type ParetoPoint,
  paramChart,
  paretoChart,
  type ThroughputPoint,
  throughputChart,
} from './charts.js';
import type { ReportData } from './report-data.js';

import { gridHeatmap } from './scenario-report.js';
import { METRIC_LABEL } from './tables.js';

/** charted: the headline figures (the all-ended ones are in the tables beside them) */
const CHARTED = ['okTasksPerMin', 'okStepsPerS'] as const;

/** The charts a report shows, in order. */
export function reportCharts(data: ReportData): Chart[] {
  const charts: Chart[] = [];
  const cmp = data.comparison;
  if (cmp && data.cells.length > 0) {
    for (const metric of CHARTED) {
      const points: ThroughputPoint[] = [];
      for (const r of cmp.rows) {
        if (r.metric !== metric) continue;
        for (const arm of cmp.arms) {
          const s = r.byArm[arm]!;
          if (s.n === 0) continue;
          points.push({
            window: r.window,
            arm,
            concurrency: r.concurrency,
            mean: s.mean,
            lo: Number.isFinite(s.lo) ? s.lo : null,
            hi: Number.isFinite(s.hi) ? s.hi : null,
            n: s.n,
          });
        }
      }
      if (points.length)
        charts.push(
          throughputChart(
            `throughput-${metric}`,
            `Throughput: ${METRIC_LABEL[metric]}`,
            METRIC_LABEL[metric],
            points,
          ),
        );
    }
  }
  const cdf: CdfPoint[] = [];
  for (const c of data.cells)
    for (const p of c.completionCdf)
      cdf.push({
        arm: c.summary.arm,
        cell: cellLabel(c.summary),
        concurrency: c.summary.concurrency ?? 0,
        tS: p.tS,
        p: p.p,
      });
  if (cdf.length) charts.push(cdfChart('completion-cdf', cdf));
  for (const c of data.cells) {
    const s = c.summary;
    const o = s.outside.firstDispatchMs;
    const win =
      s.kv.startMs !== null && s.kv.endMs !== null && o !== null
        ? { startS: (s.kv.startMs - o) / 1000, endS: (s.kv.endMs - o) / 1000 }
        : null;
    const pts: KvPoint[] = c.kv;
    if (pts.length === 0) continue;
    charts.push(
      kvChart(
        `kv-${cellLabel(s).replace(/[^\w-]/g, '-')}`,
        `KV usage: ${s.arm}, C=${s.concurrency ?? '?'}, rep ${s.rep ?? '?'} (port ${s.kv.port ?? '?'})`,
        pts,
        win,
        s.kv.threshold,
      ),
    );
  }
  const lat: LatencyPoint[] = [];
  let usesTarget = true;
  for (const b of data.bench) if (b.stages.some((s) => s.target === null)) usesTarget = false;
  const series = benchSeries(data);
  for (const b of data.bench)
    for (const s of b.stages) {
      const x = usesTarget ? s.target! : (s.requestsPerS ?? s.stage);
      for (const [metric, st] of [
        ['TTFT', s.ttftMs],
        ['TPOT', s.tpotMs],
        ['E2E', s.e2eMs],
      ] as const)
        for (const p of ['p50', 'p90', 'p99'] as const) {
          const v = st[p];
          if (v !== null)
            lat.push({ run: series.get(b.name) ?? b.name, x, metric, percentile: p, valueMs: v });
        }
    }
  if (lat.length)
    charts.push(
      latencyChart('bench-latency', usesTarget ? 'target rate / concurrency' : 'achieved requests/s', lat),
    );
  (data.grids ?? []).forEach((g, k) => {
    charts.push(
      gridHeatmap(`grid-${k}-tok`, g.grid, 'outputTokensPerS'),
      gridHeatmap(`grid-${k}-ttft`, g.grid, 'ttftP50Ms'),
    );
  });
  const agg = data.aggregate;
  if (agg?.pareto) {
    const on = new Set(agg.pareto.frontier);
    const pts: ParetoPoint[] = [];
    agg.rows.forEach((r, i) => {
      const x = r.metrics[agg.pareto!.x.metric];
      const y = r.metrics[agg.pareto!.y.metric];
      if (typeof x === 'number' && Number.isFinite(x) && typeof y === 'number' && Number.isFinite(y))
        pts.push({ run: r.run, x, y, optimal: on.has(i) });
    });
    if (pts.length) charts.push(paretoChart('pareto', agg.pareto.x.metric, agg.pareto.y.metric, pts));
  }
  const param = agg?.param;
  if (agg && param) {
    const pts: ParamPoint[] = [];
    for (const r of agg.rows) {
      const v = r.params[param.param];
      const m = r.metrics[param.metric];
      if (v !== undefined && v !== null && typeof m === 'number' && Number.isFinite(m))
        pts.push({ run: r.run, value: String(v), metric: m });
    }
    if (pts.length) charts.push(paramChart('compare-param', param.param, param.metric, pts));
  }
  return charts;
}

const LOAD_PARAM = /rate|concurrency|num-prompts|num_prompts|seed|stage_target/i;

/**
 * The line a bench run belongs to in the latency chart: a multi-stage sweep is its own line; a
 * one-rate run joins the runs with the same configuration (the parameters that vary, load aside).
 */
function benchSeries(data: ReportData): Map<string, string> {
  const out = new Map<string, string>();
  const rows = data.aggregate?.rows ?? [];
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].filter(
    (k) => !LOAD_PARAM.test(k) && new Set(rows.map((r) => String(r.params[k]))).size > 1,
  );
  for (const b of data.bench) {
    if (b.stages.length > 1) continue;
    const r = rows.find((x) => x.run === b.name);
    const label = r && keys.length ? keys.map((k) => `${k}=${r.params[k]}`).join(' ') : 'all runs';
    out.set(b.name, label);
  }
  return out;
}

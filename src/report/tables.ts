import type { AggregateRow, ParamComparison, ParetoResult } from '../analysis/aggregate.js';
import { AGGREGATE_METRICS } from '../analysis/aggregate.js';
import type { BenchAnalysis } from '../analysis/bench-latency.js';
import type { CellSummary } from '../analysis/cell-summary.js';
import { type CellStat, type CompareMetric, type Comparison, cellLabel } from '../analysis/compare.js';
import type { SetupRow } from '../analysis/setup.js';
import type { WindowCounts, WindowKind } from '../analysis/windows.js';
import { fmt, fmtPct, type Table } from './table.js';

const rel = (ms: number | null, origin: number | null) =>
  ms === null || origin === null ? null : (ms - origin) / 1000;

export function windowsTable(s: CellSummary): Table {
  const o = s.outside.firstDispatchMs;
  return {
    headers: [
      'window',
      'definition',
      'start s',
      'length s',
      'ok tasks/min',
      'all-ended tasks/min',
      'tasks ended: ok/failed/incomplete',
      'ok steps/s',
      'all-ended steps/s',
      'steps ok/ended',
      'tau2 role transitions/s (not steps)',
      'expert calls',
      'user calls',
      'note',
    ],
    numeric: [false, false, true, true, true, true, true, true, true, true, true, true, true, false],
    rows: s.windows.map((w) => [
      w.kind,
      w.label,
      fmt(rel(w.startMs, o)),
      fmt(w.durationS),
      fmt(w.okTasksPerMin),
      fmt(w.allTasksPerMin),
      `${w.tasksOk}/${w.tasksFailed}/${w.tasksIncomplete}`,
      fmt(w.okStepsPerS),
      fmt(w.allStepsPerS),
      `${w.stepsOk}/${w.stepsEnded}`,
      fmt(w.roleTransitionsPerS),
      String(w.expertCalls),
      String(w.userCalls),
      w.note ?? '',
    ]),
  };
}

const win = (s: CellSummary, k: WindowKind) => s.windows.find((w) => w.kind === k);

/**
 * The first table of `servelab run`: one row per arm and concurrency (repetitions averaged),
 * whole-cell (makespan) throughput from the analysis: ok tasks/min first, all-ended beside it.
 */
export function runTable(cells: readonly CellSummary[]): Table {
  const groups = new Map<string, CellSummary[]>();
  for (const c of cells) {
    const k = `${c.arm}\u0000${c.concurrency ?? '?'}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const mean = (g: CellSummary[], f: (w: WindowCounts) => number | null) => {
    const v = g.map((c) => win(c, 'makespan')).map((w) => (w ? f(w) : null));
    const ok = v.filter((x): x is number => x !== null);
    return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
  };
  const sum = (g: CellSummary[], f: (c: CellSummary) => number) => g.reduce((a, c) => a + f(c), 0);
  return {
    headers: [
      'arm',
      'C',
      'reps',
      'tasks ok/total',
      'failed',
      'incomplete',
      'ok tasks/min',
      'ok steps/s',
      'all-ended tasks/min',
      'all-ended steps/s',
      'makespan s',
    ],
    numeric: [false, false, true, true, true, true, true, true, true, true, true],
    rows: [...groups.values()].map((g) => [
      g[0]!.arm,
      String(g[0]!.concurrency ?? '?'),
      String(g.length),
      `${sum(g, (c) => c.counts.tasksOk)}/${sum(g, (c) => c.counts.tasks)}`,
      String(sum(g, (c) => c.counts.tasksFailed)),
      String(sum(g, (c) => c.counts.tasksIncomplete)),
      fmt(mean(g, (w) => w.okTasksPerMin)),
      fmt(mean(g, (w) => w.okStepsPerS)),
      fmt(mean(g, (w) => w.allTasksPerMin)),
      fmt(mean(g, (w) => w.allStepsPerS)),
      fmt(mean(g, (w) => w.durationS)),
    ]),
  };
}

/**
 * The end of `servelab run`: each cell's throughput in the three windows side by side, as
 * "ok tasks/min (ok steps/s)" with the all-ended tasks/min beside it, and completion-time
 * percentiles. A dash: no such window (e.g. KV never above the threshold).
 */
export function windowsOverviewTable(cells: readonly CellSummary[]): Table {
  const pair = (s: CellSummary, k: WindowKind) => {
    const w = win(s, k);
    return w?.okTasksPerMin == null ? '-' : `${fmt(w.okTasksPerMin)} (${fmt(w.okStepsPerS)})`;
  };
  const all = (s: CellSummary, k: WindowKind) => fmt(win(s, k)?.allTasksPerMin);
  return {
    headers: [
      'cell',
      'active window',
      'all ended',
      'client-side window',
      'all ended',
      'makespan',
      'all ended',
      'task time p50 / p95 s',
    ],
    numeric: [false, true, true, true, true, true, true, true],
    rows: cells.map((s) => [
      s.partial ? `${cellLabel(s)} (PARTIAL)` : cellLabel(s),
      pair(s, 'active'),
      all(s, 'active'),
      pair(s, 'client'),
      all(s, 'client'),
      pair(s, 'makespan'),
      all(s, 'makespan'),
      `${fmt(s.completionTimeS.ok.p50)} / ${fmt(s.completionTimeS.ok.p95)}`,
    ]),
  };
}

export function cellsOverviewTable(cells: readonly CellSummary[]): Table {
  const cols: [string, (s: CellSummary) => string][] = [
    ['cell', (s) => cellLabel(s)],
    ['status', (s) => (s.partial ? `${s.cellStatus} (PARTIAL)` : s.cellStatus)],
    [
      'tasks ok/failed/incomplete',
      (s) => `${s.counts.tasksOk}/${s.counts.tasksFailed}/${s.counts.tasksIncomplete}`,
    ],
    ['steps (orch.)', (s) => String(s.counts.orchestratorSteps)],
    ['expert calls', (s) => String(s.counts.expertCalls)],
    ['user calls', (s) => String(s.counts.userCalls)],
    ['active ok tasks/min', (s) => fmt(win(s, 'active')?.okTasksPerMin)],
    ['active ok steps/s', (s) => fmt(win(s, 'active')?.okStepsPerS)],
    ['active all-ended tasks/min', (s) => fmt(win(s, 'active')?.allTasksPerMin)],
    ['client ok tasks/min', (s) => fmt(win(s, 'client')?.okTasksPerMin)],
    ['client all-ended tasks/min', (s) => fmt(win(s, 'client')?.allTasksPerMin)],
    ['makespan ok tasks/min', (s) => fmt(win(s, 'makespan')?.okTasksPerMin)],
    ['makespan ok steps/s', (s) => fmt(win(s, 'makespan')?.okStepsPerS)],
    ['makespan all-ended tasks/min', (s) => fmt(win(s, 'makespan')?.allTasksPerMin)],
    ['makespan all-ended steps/s', (s) => fmt(win(s, 'makespan')?.allStepsPerS)],
    ['task time p50 s', (s) => fmt(s.completionTimeS.ok.p50)],
    ['p90', (s) => fmt(s.completionTimeS.ok.p90)],
    ['p95', (s) => fmt(s.completionTimeS.ok.p95)],
    ['p99', (s) => fmt(s.completionTimeS.ok.p99)],
    ['ramp-up s', (s) => fmt(s.outside.rampUpS)],
    ['tail s', (s) => fmt(s.outside.tailS)],
  ];
  return {
    headers: cols.map(([h]) => h),
    numeric: cols.map((_, i) => i >= 3),
    rows: cells.map((s) => cols.map(([, f]) => f(s))),
  };
}

/** What was run: per arm and model, versions, simulated or real, GPU profile, time scaling, lag. */
export function setupTable(rows: readonly SetupRow[]): Table {
  const list = (xs: readonly (string | number)[]) => (xs.length ? xs.join(', ') : '-');
  return {
    headers: [
      'arm',
      'model',
      'servers',
      'server version',
      'kind',
      'GPU profile',
      'step time',
      'agent timeScale',
      'simulator lag',
    ],
    rows: rows.map((r) => [
      r.arm,
      r.model,
      r.servers.length > 3
        ? `${r.servers.length} (${r.servers.slice(0, 2).join(', ')}, ...)`
        : list(r.servers),
      list(r.versions),
      r.kind,
      r.kind === 'simulated' ? list(r.gpus) : r.kind === 'real' ? 'real hardware' : '-',
      r.kind === 'simulated' ? list(r.stepTime) : '-',
      list(r.timeScale),
      r.maxLagS === null
        ? r.kind === 'simulated'
          ? 'not recorded'
          : '-'
        : `${fmt(r.maxLagS)} s${r.maxLagShare !== null ? ` (${fmtPct(r.maxLagShare)} of ${r.maxLagCell})` : ''}`,
    ]),
  };
}

export function timeTable(cells: readonly CellSummary[]): Table {
  const part = (t: { perStepS: number | null; share: number | null }) =>
    `${fmt(t.perStepS)} s (${fmtPct(t.share)})`;
  return {
    headers: [
      'cell',
      'orch. queue+prefill (TTFT)',
      'of which router queue',
      'orch. decode',
      'orch. call, not streamed',
      'tools',
      'expert calls',
      'user turns',
      'expert LLM call mean s',
      'user LLM call mean s',
    ],
    rows: cells.map((s) => [
      cellLabel(s),
      part(s.time.orchestratorTtft),
      s.time.orchestratorRouterQueue ? part(s.time.orchestratorRouterQueue) : '-',
      part(s.time.orchestratorDecode),
      part(s.time.orchestratorUnsplit),
      part(s.time.tool),
      part(s.time.expert),
      part(s.time.user),
      fmt(s.time.expertCallLatencyS.meanS),
      fmt(s.time.userCallLatencyS.meanS),
    ]),
  };
}

export function failuresTable(cells: readonly CellSummary[]): Table {
  const rows: string[][] = [];
  for (const s of cells)
    for (const [reason, n] of Object.entries(s.failuresByReason))
      rows.push([cellLabel(s), reason, String(n)]);
  return { headers: ['cell', 'status: reason', 'tasks'], numeric: [false, false, true], rows };
}

export function tailTable(s: CellSummary): Table {
  return {
    headers: ['task', 'status', 'ended s after window', 'task duration s', 'started after window'],
    numeric: [false, false, true, true, false],
    rows: s.outside.tailTasks.map((t) => [
      t.taskId,
      t.status,
      fmt(t.afterWindowS),
      fmt(t.durationS),
      t.startedAfterWindow ? 'yes' : 'no',
    ]),
  };
}

export const METRIC_LABEL: Record<CompareMetric, string> = {
  okTasksPerMin: 'ok tasks/min',
  allTasksPerMin: 'all-ended tasks/min',
  okStepsPerS: 'ok steps/s',
  allStepsPerS: 'all-ended steps/s',
};

function statText(s: CellStat | undefined): string {
  if (!s || s.n === 0) return s?.missing ? 'no rate' : '-';
  if (s.n === 1) return `${fmt(s.mean)} (n=1)`;
  return `${fmt(s.mean)} [${fmt(s.lo)}, ${fmt(s.hi)}] n=${s.n}`;
}

/**
 * The users' published shape: rows = concurrency, columns = arms, "ok tasks/min (ok steps/s)",
 * with each arm's all-ended tasks/min beside it.
 */
export function usersTable(cmp: Comparison, window: WindowKind): Table {
  const rowsFor = (c: number, m: CompareMetric) =>
    cmp.rows.find((r) => r.concurrency === c && r.window === window && r.metric === m);
  return {
    headers: [
      'C',
      ...cmp.arms.flatMap((a) => [`${a}: ok tasks/min (steps/s)`, `${a}: all ended`]),
      'winner (ok tasks/min)',
    ],
    numeric: [true, ...cmp.arms.flatMap(() => [true, true]), false],
    rows: cmp.concurrencies.map((c) => {
      const t = rowsFor(c, 'okTasksPerMin');
      const st = rowsFor(c, 'okStepsPerS');
      const all = rowsFor(c, 'allTasksPerMin');
      return [
        String(c),
        ...cmp.arms.flatMap((a) => {
          const x = t?.byArm[a];
          const y = st?.byArm[a];
          const z = all?.byArm[a];
          if (!x || x.n === 0) return ['no rate', '-'];
          return [`${fmt(x.mean)} (${fmt(y?.mean)})${x.n === 1 ? '' : ` n=${x.n}`}`, fmt(z?.mean)];
        }),
        t?.winner ? `${t.winner}: ${t.winnerNote}` : (t?.winnerNote ?? '-'),
      ];
    }),
  };
}

/** One metric in one window, with confidence intervals and ratios to the baseline. */
export function comparisonTable(cmp: Comparison, window: WindowKind, metric: CompareMetric): Table {
  const others = cmp.arms.filter((a) => a !== cmp.baseline);
  return {
    headers: [
      'C',
      ...cmp.arms.map((a) => `${a} ${METRIC_LABEL[metric]}${a === cmp.baseline ? ' (baseline)' : ''}`),
      'winner',
      ...others.map((a) => `${a} / ${cmp.baseline}`),
    ],
    numeric: [true, ...cmp.arms.map(() => true), false, ...others.map(() => true)],
    rows: cmp.concurrencies.map((c) => {
      const r = cmp.rows.find((x) => x.concurrency === c && x.window === window && x.metric === metric);
      return [
        String(c),
        ...cmp.arms.map((a) => statText(r?.byArm[a])),
        r?.winner ? `${r.winner} (${r.winnerNote})` : (r?.winnerNote ?? '-'),
        ...others.map((a) => {
          const ratio = r?.ratioToBaseline[a];
          const t = r?.vsBaseline[a];
          return `${fmt(ratio)}${t ? ` (p=${fmt(t.p, 2)}${t.significant ? ', significant' : ''})` : ''}`;
        }),
      ];
    }),
  };
}

/** Long format for spreadsheets: one line per concurrency x window x metric x arm. */
export function comparisonLongTable(cmp: Comparison): Table {
  const rows: string[][] = [];
  for (const r of cmp.rows)
    for (const arm of cmp.arms) {
      const s = r.byArm[arm]!;
      const t = r.vsBaseline[arm];
      rows.push([
        String(r.concurrency),
        r.window,
        r.metric,
        arm,
        String(s.n),
        s.n ? String(s.mean) : '',
        Number.isFinite(s.lo) ? String(s.lo) : '',
        Number.isFinite(s.hi) ? String(s.hi) : '',
        r.ratioToBaseline[arm] === null ? '' : String(r.ratioToBaseline[arm]),
        r.winner === arm ? 'yes' : '',
        t ? String(t.p) : '',
        s.values.join(' '),
      ]);
    }
  return {
    headers: [
      'concurrency',
      'window',
      'metric',
      'arm',
      'n',
      'mean',
      'ci95_lo',
      'ci95_hi',
      'ratio_to_baseline',
      'winner',
      'welch_p_vs_baseline',
      'values',
    ],
    rows,
  };
}

export function benchTable(a: BenchAnalysis): Table {
  return {
    headers: [
      'stage',
      'target',
      'requests',
      'ok',
      'errors',
      'incomplete',
      'req/s',
      'out tok/s',
      'TTFT p50 ms',
      'p90',
      'p95',
      'p99',
      'TPOT p50 ms',
      'p99',
      'ITL p50 ms',
      'p99',
      'E2E p50 ms',
      'p99',
      'sched. lag p99 ms',
    ],
    numeric: [true, false, ...Array(17).fill(true)],
    rows: a.stages.map((s) => [
      String(s.stage),
      s.targetLabel,
      String(s.requests),
      String(s.ok),
      String(s.errors),
      String(s.incomplete),
      fmt(s.requestsPerS),
      fmt(s.outputTokensPerS),
      fmt(s.ttftMs.p50),
      fmt(s.ttftMs.p90),
      fmt(s.ttftMs.p95),
      fmt(s.ttftMs.p99),
      fmt(s.tpotMs.p50),
      fmt(s.tpotMs.p99),
      fmt(s.itlMs.p50),
      fmt(s.itlMs.p99),
      fmt(s.e2eMs.p50),
      fmt(s.e2eMs.p99),
      fmt(s.scheduleLagMs.p99),
    ]),
  };
}

/** experiment_results.csv: one row per run, parameters then metrics (raw numbers, not rounded). */
export function aggregateTable(rows: readonly AggregateRow[], pareto: ParetoResult | null = null): Table {
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort();
  const onFrontier = new Set(pareto?.frontier ?? []);
  return {
    headers: [
      'run',
      'stage',
      'partial',
      ...params,
      ...AGGREGATE_METRICS,
      ...(pareto ? ['pareto_optimal'] : []),
      'source',
    ],
    rows: rows.map((r, i) => [
      r.run,
      r.stage === null ? '' : String(r.stage),
      r.partial ? 'yes' : 'no',
      ...params.map((p) => (r.params[p] === undefined || r.params[p] === null ? '' : String(r.params[p]))),
      ...AGGREGATE_METRICS.map((m) =>
        r.metrics[m] === null || r.metrics[m] === undefined ? '' : String(r.metrics[m]),
      ),
      ...(pareto ? [onFrontier.has(i) ? 'yes' : 'no'] : []),
      r.source,
    ]),
  };
}

export function paramTable(p: ParamComparison): Table {
  return {
    headers: [p.param, 'runs', `mean ${p.metric}`, 'min', 'max', 'best'],
    numeric: [false, true, true, true, true, false],
    rows: p.groups.map((g) => [
      g.value,
      String(g.n),
      fmt(g.mean),
      fmt(g.min),
      fmt(g.max),
      g.value === p.best ? `best (${p.direction})` : '',
    ]),
  };
}

export function paretoTable(rows: readonly AggregateRow[], p: ParetoResult): Table {
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort();
  const varying = params.filter((k) => new Set(rows.map((r) => String(r.params[k]))).size > 1);
  return {
    headers: ['run', `${p.x.metric} (${p.x.direction})`, `${p.y.metric} (${p.y.direction})`, ...varying],
    numeric: [false, true, true, ...varying.map(() => false)],
    rows: p.frontier.map((i) => {
      const r = rows[i]!;
      return [
        r.run,
        fmt(r.metrics[p.x.metric]),
        fmt(r.metrics[p.y.metric]),
        ...varying.map((k) => String(r.params[k] ?? '')),
      ];
    }),
  };
}

/** The aggregate for people: the parameters that vary, then the key metrics, rounded. */
export function aggregateSummaryTable(rows: readonly AggregateRow[]): Table {
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))]
    .sort()
    .filter((k) => new Set(rows.map((r) => String(r.params[k] ?? ''))).size > 1);
  const metrics = [
    'output_throughput_tok_s',
    'request_throughput_req_s',
    'ttft_p50_ms',
    'ttft_p95_ms',
    'tpot_p50_ms',
    'e2e_p95_ms',
    'success_rate',
  ];
  return {
    headers: [
      'run',
      'stage',
      ...params,
      'out tok/s',
      'req/s',
      'TTFT p50 ms',
      'TTFT p95 ms',
      'TPOT p50 ms',
      'E2E p95 ms',
      'success',
      'partial',
    ],
    numeric: [false, true, ...params.map(() => false), ...metrics.map(() => true), false],
    rows: rows.map((r) => [
      r.run,
      r.stage === null ? '' : String(r.stage),
      ...params.map((p) => String(r.params[p] ?? '')),
      ...metrics.map((m) => (m === 'success_rate' ? fmtPct(r.metrics[m]) : fmt(r.metrics[m]))),
      r.partial ? 'PARTIAL' : '',
    ]),
  };
}

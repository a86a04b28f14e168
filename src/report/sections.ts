import { AGGREGATE_DEFINITIONS } from '../analysis/aggregate.js';
import { BENCH_DEFINITIONS } from '../analysis/bench-latency.js';
import { CELL_DEFINITIONS } from '../analysis/cell-summary.js';
import {
  COMPARE_DEFINITIONS,
  COMPARE_METRICS,
  type Comparison,
  cellLabel,
  type Severity,
} from '../analysis/compare.js';
import { describeSetup, SETUP_DEFINITIONS, type SetupRow } from '../analysis/setup.js';
import { COUNTING_RULE } from '../analysis/windows.js';
import type { ReportData } from './report-data.js';
import { gridTable } from './scenario-report.js';
import { fmt, type Table } from './table.js';
import {
  aggregateTable,
  benchTable,
  cellsOverviewTable,
  comparisonTable,
  failuresTable,
  paramTable,
  paretoTable,
  setupTable,
  tailTable,
  timeTable,
  usersTable,
  windowsTable,
} from './tables.js';

/** One warning line for the top of a report. */
export interface ReportWarning {
  severity: Severity;
  text: string;
}

/** Every warning, the loudest first: comparison confounds, then per-cell and bench warnings. */
export function reportWarnings(data: ReportData): ReportWarning[] {
  const out: ReportWarning[] = [];
  const seen = new Set<string>();
  const add = (severity: Severity, text: string) => {
    if (seen.has(text)) return;
    seen.add(text);
    out.push({ severity, text });
  };
  for (const c of data.comparison?.confounds ?? []) add(c.severity, `${c.code}: ${c.message}`);
  // one line per distinct cell warning, naming every cell it applies to
  const byText = new Map<string, string[]>();
  for (const c of data.cells) {
    if (c.summary.partial && !data.comparison)
      add('high', `cell ${cellLabel(c.summary)} is PARTIAL: ${c.summary.partialReasons.join('; ')}`);
    for (const w of c.summary.warnings) byText.set(w, [...(byText.get(w) ?? []), cellLabel(c.summary)]);
  }
  for (const [w, ids] of byText)
    add('medium', `${ids.length === 1 ? 'cell' : `${ids.length} cells`} ${ids.join(', ')}: ${w}`);
  for (const b of data.bench) {
    if (b.partial) add('high', `bench ${b.name} is PARTIAL: ${b.partialReasons.join('; ')}`);
    for (const w of b.warnings) add('medium', `bench ${b.name}: ${w}`);
  }
  for (const n of data.notes) add('medium', n);
  const rank: Record<Severity, number> = { high: 0, medium: 1, info: 2 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}

export interface ReportSection {
  title: string;
  intro?: string;
  tables: { caption: string; table: Table }[];
}

/**
 * Whether the per-metric comparison tables add anything to the users' tables: several arms to
 * compare, or repetitions that give a confidence interval.
 */
export function comparesSomething(cmp: Comparison): boolean {
  return cmp.arms.length > 1 || cmp.rows.some((r) => Object.values(r.byArm).some((x) => x.n > 1));
}

/** One line for a report's header: what was simulated and how (or that the servers were real). */
export function setupLine(rows: readonly SetupRow[]): string {
  if (rows.length === 0) return '';
  const sim = rows.filter((r) => r.kind === 'simulated');
  const real = rows.filter((r) => r.kind !== 'simulated');
  const u = <T>(xs: T[]) => [...new Set(xs)];
  const parts: string[] = [];
  if (sim.length) {
    const lags = sim.filter((r) => r.maxLagS !== null);
    const worst = lags.reduce<SetupRow | null>((a, r) => (a && a.maxLagS! >= r.maxLagS! ? a : r), null);
    parts.push(
      `SIMULATED servers (servelab's engine, vLLM ${u(sim.flatMap((r) => r.versions)).join(', ')} on the wire): GPU profiles ${u(sim.flatMap((r) => r.gpus)).join(', ') || '?'}; step time ${u(sim.flatMap((r) => r.stepTime)).join(', ')}; simulator lag ${worst ? `at most ${fmt(worst.maxLagS)} s (${worst.maxLagCell})` : 'not recorded'}`,
    );
  }
  if (real.length)
    parts.push(
      `servers ${u(real.map((r) => `${r.model} ${r.versions.join('/')}`)).join(', ')} (not simulated)`,
    );
  const ts = u(rows.flatMap((r) => r.timeScale));
  parts.push(`agent timeScale ${ts.length ? ts.join(', ') : 'not recorded'}`);
  return `${parts.join('; ')}.`;
}

/** The setup of the agent cells (arms split as the comparison splits them). */
export function reportSetup(data: ReportData): SetupRow[] {
  return describeSetup(data.cells.map((c) => c.summary));
}

/** The tables of a report, grouped in sections (shared by the HTML and Markdown renderers). */
export function reportSections(data: ReportData): ReportSection[] {
  const out: ReportSection[] = [];
  const setup = reportSetup(data);
  if (setup.length)
    out.push({
      title: 'What was run',
      intro: setupLine(setup),
      tables: [
        {
          caption: 'Servers per arm, how they were simulated, and the time scaling',
          table: setupTable(setup),
        },
      ],
    });
  const cmp = data.comparison;
  if (cmp && cmp.arms.length > 0) {
    out.push({
      title: 'Comparison',
      intro: comparesSomething(cmp)
        ? `Baseline arm: ${cmp.baseline}. ${COUNTING_RULE}`
        : `One arm (${cmp.baseline}) and one repetition per cell: nothing to compare and no confidence interval to give, so only its figures per window are shown. Add arms to compare serving systems, repetitions for error bars. ${COUNTING_RULE}`,
      tables: [
        ...cmp.windows.map((w) => ({
          caption: `The users' table, ${w} window: ok tasks/min (ok steps/s), all-ended tasks/min beside it`,
          table: usersTable(cmp, w),
        })),
        ...(comparesSomething(cmp)
          ? cmp.windows.flatMap((w) =>
              COMPARE_METRICS.map((m) => ({
                caption: `${w} window, ${m}: mean [95 % CI] per arm, winner, ratio to ${cmp.baseline}`,
                table: comparisonTable(cmp, w, m),
              })),
            )
          : []),
      ],
    });
  }
  if (data.cells.length) {
    const sums = data.cells.map((c) => c.summary);
    const fails = failuresTable(sums);
    out.push({
      title: 'Cells',
      intro: COUNTING_RULE,
      tables: [
        { caption: 'Every cell (task time = completion time of ok tasks)', table: cellsOverviewTable(sums) },
        {
          caption: "Where time goes per orchestrator step (mean per step, share of the program's time)",
          table: timeTable(sums),
        },
        ...(fails.rows.length ? [{ caption: 'Failed and incomplete tasks by reason', table: fails }] : []),
      ],
    });
    for (const s of sums) {
      const tables = [{ caption: `Windows of ${cellLabel(s)}`, table: windowsTable(s) }];
      if (s.outside.tailTasks.length)
        tables.push({
          caption: `Tail of ${cellLabel(s)}: ${s.outside.tailTaskCount} task(s) ended after the active window (longest shown)`,
          table: tailTable(s),
        });
      out.push({
        title: `Cell ${cellLabel(s)}`,
        intro: `status ${s.cellStatus}${s.partial ? ` (PARTIAL: ${s.partialReasons.join('; ')})` : ''}; KV port ${s.kv.port ?? '-'} (${s.kv.portSource}), ${s.kv.samples} samples, ${s.kv.samplesAbove} above ${s.kv.threshold}; ramp-up ${fmt(s.outside.rampUpS)} s, tail ${fmt(s.outside.tailS)} s.`,
        tables,
      });
    }
  }
  for (const b of data.bench)
    out.push({
      title: `Bench ${b.name}`,
      tables: [{ caption: 'Per stage (ok requests in latency figures)', table: benchTable(b) }],
    });
  for (const g of data.grids ?? [])
    out.push({
      title: `Grid ${g.run}`,
      intro: `prompt x output length, one stage per cell: ${g.grid.arrivals}, ${g.grid.requestsPerCell} requests per cell; max_model_len ${g.grid.maxModelLen ?? 'unknown'}.`,
      tables: [{ caption: 'Per cell (ok requests in latency figures)', table: gridTable(g.grid) }],
    });
  const agg = data.aggregate;
  if (agg) {
    const tables = [
      { caption: 'experiment_results (one row per run)', table: aggregateTable(agg.rows, agg.pareto) },
    ];
    if (agg.pareto) tables.push({ caption: 'Pareto-optimal runs', table: paretoTable(agg.rows, agg.pareto) });
    if (agg.param)
      tables.push({
        caption: `${agg.param.param} against ${agg.param.metric}`,
        table: paramTable(agg.param),
      });
    out.push({ title: 'Sweep aggregate', tables });
  }
  return out;
}

/** Every definition of a number the report shows. */
export function reportDefinitions(data: ReportData): [string, string][] {
  const defs: [string, string][] = [];
  if (data.cells.length) {
    defs.push(['counting rule', COUNTING_RULE]);
    defs.push(...Object.entries(CELL_DEFINITIONS));
    defs.push(...Object.entries(SETUP_DEFINITIONS));
  }
  if (data.comparison) defs.push(...Object.entries(COMPARE_DEFINITIONS));
  if (data.bench.length) defs.push(...Object.entries(BENCH_DEFINITIONS));
  if (data.aggregate) defs.push(...Object.entries(AGGREGATE_DEFINITIONS));
  defs.push(['percentiles', "linear interpolation between closest ranks (numpy default, as vLLM's bench)"]);
  return defs;
}

/**
 * The writing edge of analysis + reports: loads run dirs, analyses them (pure), writes the
 * files. `writeRunReport` is what `servelab run` calls at the end of every experiment.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { CellSummary } from '../analysis/cell-summary.js';
import { COMPARE_METRICS } from '../analysis/compare.js';
import { loadRun } from '../analysis/load.js';
import type { RunInput } from '../analysis/run-types.js';
import { describeSetup, SETUP_DEFINITIONS } from '../analysis/setup.js';
import { writeCellSummary } from '../rundir/run-dir.js';
import { type AnalysedRuns, analyseRuns, type BuildOptions, reportData } from './build.js';
import { renderHtmlReport } from './html.js';
import { comparesSomething, setupLine } from './sections.js';
import { toCsv, toMarkdown } from './table.js';
import { cellsOverviewTable, comparisonTable, METRIC_LABEL, setupTable, usersTable } from './tables.js';

export async function loadRuns(dirs: readonly string[]): Promise<RunInput[]> {
  const out: RunInput[] = [];
  for (const d of dirs) out.push(await loadRun(resolve(d)));
  return out;
}

export function comparisonMarkdown(a: AnalysedRuns): string {
  const cmp = a.comparison;
  if (!cmp) return '';
  const setup = describeSetup(a.cells.map((c) => c.summary));
  const lines = ['# Comparison', ''];
  if (setup.length) lines.push(setupLine(setup), '');
  if (cmp.confounds.length) {
    lines.push('## ⚠ Confounds', '');
    for (const c of cmp.confounds) lines.push(`- **${c.severity.toUpperCase()}** ${c.code}: ${c.message}`);
    lines.push('');
  }
  if (setup.length) lines.push('## What was run', '', toMarkdown(setupTable(setup)), '');
  for (const w of cmp.windows) {
    lines.push(
      `## ${w} window: ok tasks/min (ok steps/s), all-ended tasks/min beside it`,
      '',
      toMarkdown(usersTable(cmp, w)),
      '',
    );
    if (comparesSomething(cmp))
      for (const m of COMPARE_METRICS)
        lines.push(`### ${w}: ${METRIC_LABEL[m]}`, '', toMarkdown(comparisonTable(cmp, w, m)), '');
  }
  lines.push('## Definitions', '');
  for (const [k, v] of Object.entries({ ...cmp.definitions, ...SETUP_DEFINITIONS }))
    lines.push(`- **${k}**: ${v}`);
  return `${lines.join('\n')}\n`;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

export interface RunReportResult {
  /** per-cell summary.json files (agent runs) or analysis.json (bench runs) */
  summaryPaths: string[];
  /** report.html, or null when it could not be written (see errors) */
  reportPath: string | null;
  /** what went wrong; never thrown */
  errors: string[];
  /** the agent cells as analysed (empty for a bench run or when the analysis failed) */
  cells: CellSummary[];
}

/**
 * Analyses one run dir and writes, inside it: each cell's summary.json, summary.csv,
 * compare.md and report.html (a bench run: analysis.json and report.html; its own
 * summary.json is left alone). Never throws: a partial or broken run gives what could be
 * written plus `errors`.
 */
export async function writeRunReport(
  runDir: string,
  opts: BuildOptions & { now?: Date } = {},
): Promise<RunReportResult> {
  const errors: string[] = [];
  const summaryPaths: string[] = [];
  const cells: CellSummary[] = [];
  let reportPath: string | null = null;
  try {
    const dir = resolve(runDir);
    const run = await loadRun(dir);
    const a = analyseRuns([run], opts);
    for (const r of a.perRun)
      for (const s of r.summaries) {
        cells.push(s);
        try {
          // summary.json's one writer (src/rundir): the analysis's cell summary, nothing else
          summaryPaths.push(writeCellSummary(r.dir, s));
        } catch (err) {
          errors.push(`summary of ${s.id}: ${(err as Error).message}`);
        }
      }
    if (run.kind === 'bench' && a.bench[0]) {
      const p = join(dir, 'analysis.json');
      await writeJson(p, a.bench[0]);
      summaryPaths.push(p);
    }
    if (a.perRun.length) {
      await writeFile(join(dir, 'summary.csv'), toCsv(cellsOverviewTable(a.cells.map((c) => c.summary))));
      await writeFile(join(dir, 'compare.md'), comparisonMarkdown(a));
    }
    const html = await renderHtmlReport(
      reportData(a, {
        title: `servelab report: ${basename(dir)}`,
        generatedAt: (opts.now ?? new Date()).toISOString(),
        sources: [dir],
      }),
    );
    reportPath = join(dir, 'report.html');
    await writeFile(reportPath, html);
  } catch (err) {
    errors.push((err as Error)?.message ?? String(err));
  }
  return { summaryPaths, reportPath, errors, cells };
}

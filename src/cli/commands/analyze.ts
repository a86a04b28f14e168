import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { analyzeAgentRun } from '../../analysis/analyze-run.js';
import { analyzeBench } from '../../analysis/bench-latency.js';
import type { CellSummary } from '../../analysis/cell-summary.js';
import { loadRun } from '../../analysis/load.js';
import { analyzeOptions, KV_ENGINE_HELP } from '../../analysis/options.js';
import { COUNTING_RULE } from '../../analysis/windows.js';
import { fmt, toTerminal } from '../../report/table.js';
import {
  benchTable,
  cellsOverviewTable,
  failuresTable,
  tailTable,
  timeTable,
  windowsTable,
} from '../../report/tables.js';
import { writeJson } from '../../report/write.js';
import { writeCellSummary } from '../../rundir/run-dir.js';
import type { CommandContext } from './index.js';

/** Which of the port's KV series the window read, when the port has several engines. */
function kvEngineText(s: CellSummary): string {
  const e = s.kv.engine;
  if (!e || e.engines.length === 0) return '';
  const what =
    e.used === 'max' ? 'max over engines' : e.used === 'combined' ? 'engines combined' : `engine ${e.used}`;
  return `; ${what} of ${e.engines.join(', ')}`;
}

function cellText(s: CellSummary): string {
  const lines = [`== ${s.id}  (${s.cellStatus}${s.partial ? ', PARTIAL' : ''})`];
  for (const r of s.partialReasons) lines.push(`  partial: ${r}`);
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  lines.push(
    `  KV port ${s.kv.port ?? '-'} (${s.kv.portSource}${kvEngineText(s)}): ${s.kv.samples} samples, ${s.kv.samplesAbove} above ${s.kv.threshold}, peak ${fmt(s.kv.peakValue)}`,
  );
  lines.push(toTerminal(windowsTable(s)));
  lines.push(
    s.kv.startMs === null
      ? '  no active window: no ramp-up or tail relative to it (see the client-side window and the makespan)'
      : `  ramp-up ${fmt(s.outside.rampUpS)} s; tail ${fmt(s.outside.tailS)} s with ${s.outside.tailTaskCount} task(s) ending after the active window`,
  );
  if (s.outside.tailTasks.length) lines.push(toTerminal(tailTable(s)));
  return lines.join('\n');
}

export function registerAnalyze(program: Command, ctx: CommandContext): void {
  program
    .command('analyze')
    .description(
      'analyse a run directory: active / client-side / fixed / makespan windows, completion times, failures, tails; bench runs: latency per stage',
    )
    .argument('<run-dir>', 'a directory written by `servelab run` or `servelab bench` (partial runs too)')
    .option('--threshold <frac>', 'KV-usage threshold of the active window (0-1)', '0.7')
    .option('--port <n>', "port whose KV usage defines the active window (default: the orchestrator's)")
    .option('--kv-engine <max|combined|n>', KV_ENGINE_HELP, 'max')
    .option('--window <a..b>', 'an extra fixed window, offsets from the first dispatch, e.g. 600s..7800s')
    .option('--json', 'print the summaries as JSON instead of tables')
    .option('--no-write', 'do not write summary.json files')
    .action(
      async (
        dir: string,
        o: {
          threshold?: string;
          port?: string;
          window?: string;
          kvEngine?: string;
          json?: boolean;
          write: boolean;
        },
      ) => {
        const opts = analyzeOptions(o);
        const run = await loadRun(resolve(ctx.io.cwd, dir));
        if (run.kind === 'bench') {
          const a = analyzeBench(run);
          if (o.write) await writeJson(join(run.dir, 'analysis.json'), a);
          if (o.json) ctx.io.stdout(`${JSON.stringify(a, null, 2)}\n`);
          else {
            ctx.io.stdout(`bench ${a.name}${a.partial ? ' (PARTIAL)' : ''}\n`);
            for (const r of a.partialReasons) ctx.io.stdout(`  partial: ${r}\n`);
            for (const w of a.warnings) ctx.io.stdout(`  warning: ${w}\n`);
            ctx.io.stdout(`${toTerminal(benchTable(a))}\n`);
            if (o.write) ctx.io.stdout(`wrote ${join(run.dir, 'analysis.json')}\n`);
          }
          return;
        }
        const sums = analyzeAgentRun(run, opts);
        if (o.write) for (const s of sums) writeCellSummary(run.dir, s);
        if (o.json) {
          ctx.io.stdout(`${JSON.stringify(sums, null, 2)}\n`);
          return;
        }
        ctx.io.stdout(`${COUNTING_RULE}\n\n`);
        ctx.io.stdout(`${toTerminal(cellsOverviewTable(sums))}\n\n`);
        ctx.io.stdout(`where time goes per orchestrator step:\n${toTerminal(timeTable(sums))}\n\n`);
        const f = failuresTable(sums);
        if (f.rows.length) ctx.io.stdout(`failed / incomplete tasks:\n${toTerminal(f)}\n\n`);
        for (const s of sums) ctx.io.stdout(`${cellText(s)}\n\n`);
        if (o.write) ctx.io.stdout(`wrote ${sums.length} summary.json file(s) under ${run.dir}\n`);
      },
    );
}

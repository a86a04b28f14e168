import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createHttpTransport } from '../../client/index.js';
import { describeSpec, type LoadedSpec, loadSpecFile } from '../../config/index.js';
import { EXIT } from '../../errors.js';
import { type RunExperimentResult, runExperiment } from '../../experiment/run-experiment.js';
import { toTerminal } from '../../report/table.js';
import { windowsOverviewTable } from '../../report/tables.js';
import { writeRunReport } from '../../report/write.js';
import { shellCommand } from '../../shell-quote.js';
import type { CliIO } from '../io.js';
import type { CommandContext } from './index.js';

/** Runs a loaded spec and prints the end table and the run directory; returns the exit code. */
export async function executeSpec(
  io: CliIO,
  loaded: LoadedSpec,
  flags: { resume?: string; replay?: string },
): Promise<{ code: number; result: RunExperimentResult }> {
  io.stderr(`${describeSpec(loaded.spec)}\n`);
  const result = await runExperiment({
    loaded,
    cwd: io.cwd,
    env: io.env,
    signal: io.signal,
    log: (line) => io.stderr(`${line}\n`),
    ...(flags.resume ? { resumeDir: flags.resume } : {}),
    ...(flags.replay ? { replay: flags.replay } : {}),
    progressIntervalMs: io.isTTY ? 2000 : 5000,
    makeTransport: (c) => createHttpTransport({ connections: Math.max(16, c * 2) }),
    ...(io.secrets ? { secrets: io.secrets } : {}),
  });
  io.stdout(`\n${result.table}\n\n`);
  for (const w of result.warnings) io.stdout(`WARNING: ${w}\n`);
  // the analysis (windows, completion times, tails) replaces each cell's driver summary.json,
  // and the run gets summary.csv, compare.md and the self-contained report.html
  const rep = await writeRunReport(result.runDir);
  for (const e of rep.errors) io.stderr(`analysis: ${e}\n`);
  // (a run in which no task ended, e.g. every cell failed its preflight, has nothing to show)
  if (rep.cells.some((c) => c.counts.tasksOk + c.counts.tasksFailed + c.counts.tasksIncomplete > 0)) {
    const active = rep.cells.flatMap((c) => c.windows).find((w) => w.kind === 'active')?.label;
    io.stdout(
      `tasks/min (steps/s) per window: active = ${active ?? 'KV above the threshold'} (the users' window); ` +
        'client-side = from C programs in flight to the last dispatch; makespan = the whole cell. ' +
        'tasks/min counts every task that ENDS inside the window (ok or failed), steps/s every ' +
        'orchestrator call that ends inside it.\n' +
        `${toTerminal(windowsOverviewTable(rep.cells))}\n\n`,
    );
  }
  io.stdout(
    `analysis: ${rep.summaryPaths.length} summary.json file(s); windows and tails: ${shellCommand(['servelab', 'analyze', result.runDir])}\n`,
  );
  if (rep.reportPath) io.stdout(`report: ${rep.reportPath}\n`);
  const failed = result.cells.filter((c) => c.status === 'failed');
  io.stdout(`run directory: ${result.runDir}\n`);
  if (result.interrupted) {
    io.stderr(
      `interrupted: cells done are kept; continue with: ${shellCommand(['servelab', 'run', loaded.file, '--resume', result.runDir])}\n`,
    );
    return { code: EXIT.interrupted, result };
  }
  if (failed.length > 0) {
    io.stderr(
      `${failed.length} cell(s) failed: ${failed.map((c) => c.id).join(', ')} (see their cell.json notes)\n`,
    );
    return { code: EXIT.failed, result };
  }
  return { code: EXIT.ok, result };
}

export function registerRun(program: Command, ctx: CommandContext): void {
  program
    .command('run')
    .description(
      'run an experiment spec: arms x concurrency x repetitions of agent programs, one after another',
    )
    .argument('<spec>', 'the spec file (YAML), e.g. examples/agentic-quickstart.yaml')
    .option('--resume <runDir>', 'continue the matrix of this run directory at the first cell not complete')
    .option(
      '--replay <trace>',
      'replay this trace (a steps.jsonl or a mooncake-style JSONL) instead of the spec workload',
    )
    .option('--dry-run', 'validate the spec and describe it, run nothing')
    .action(async (file: string, flags: { resume?: string; replay?: string; dryRun?: boolean }) => {
      // paths are the user's, relative to the directory servelab runs in (the injected cwd)
      const loaded = loadSpecFile(resolve(ctx.io.cwd, file));
      if (flags.dryRun) {
        ctx.io.stdout(`${describeSpec(loaded.spec)}\n`);
        return;
      }
      const { code } = await executeSpec(ctx.io, loaded, {
        ...(flags.resume ? { resume: resolve(ctx.io.cwd, flags.resume) } : {}),
        ...(flags.replay ? { replay: resolve(ctx.io.cwd, flags.replay) } : {}),
      });
      ctx.setExit(code);
    });
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkSpecFiles, describeSpec, type LoadedSpec, loadSpecFile } from '../../config/index.js';
import { EXIT, formatError, ServelabError } from '../../errors.js';
import { planExperiment, planLines } from '../../experiment/plan.js';
import {
  assertLaunchable,
  assertTopologies,
  type RunExperimentResult,
  runExperiment,
} from '../../experiment/run-experiment.js';
import type { TimeMode } from '../../launch/registry.js';
import { toTerminal } from '../../report/table.js';
import { runTable, windowsOverviewTable } from '../../report/tables.js';
import { writeRunReport } from '../../report/write.js';
import { shellCommand } from '../../shell-quote.js';
import type { CliIO } from '../io.js';
import type { CommandContext } from './index.js';

export interface ExecuteFlags {
  resume?: string;
  replay?: string;
  /** sim servers on the topology's ports (W1: 1900, ...) even where the spec says freePorts */
  w1Ports?: boolean;
  /** every server a simulated engine in-process on one virtual clock (`servelab simulate`, `run --virtual`) */
  virtual?: boolean;
  /**
   * what to print after Ctrl-C: how to continue (`servelab run` prints its --resume line;
   * `servelab agent`, which cannot resume, its own)
   */
  interruptedHint?: (result: RunExperimentResult) => string;
}

/** Runs a loaded spec and prints the end table and the run directory; returns the exit code. */
/** runExperiment's options from the CLI's io: directory, environment, Ctrl-C, log and progress on stderr, secrets. */
export function experimentIo(io: CliIO) {
  return {
    cwd: io.cwd,
    env: io.env,
    signal: io.signal,
    log: (line: string) => io.stderr(`${line}\n`),
    progressIntervalMs: io.isTTY ? 2000 : 5000,
    ...(io.secrets ? { secrets: io.secrets } : {}),
  };
}

/** Says (once) that no cell of an arm could launch its servers, and why; `stopped` is what stopped (the matrix, the sweep). */
export function sayLaunchFailure(io: CliIO, result: RunExperimentResult, stopped: string): void {
  const lf = result.launchFailure;
  if (!lf) return;
  const why = lf.reasons
    .map((r) => formatError(new ServelabError('LAUNCH_FAILED', r.message, r.hint ? { hint: r.hint } : {})))
    .join('\n');
  io.stderr(
    `\narm ${lf.arm}: none of its ${lf.cells.length} cell(s) could launch its servers; ${stopped} stopped here.\n${why}\n`,
  );
}

export async function executeSpec(
  io: CliIO,
  loaded: LoadedSpec,
  flags: ExecuteFlags,
): Promise<{ code: number; result: RunExperimentResult }> {
  if (loaded.spec.workload.requests) {
    // a request-stream workload: the same runner, its cells aggregated as `servelab sweep` does
    if (flags.replay)
      throw new ServelabError(
        'BAD_FLAG',
        '--replay replays agent traces; this spec has a request-stream workload',
        {
          hint: 'leave out --replay, or give the spec an agent workload',
        },
      );
    const { executeRequestSweep } = await import('./sweep.js');
    const r = await executeRequestSweep(io, loaded, {
      ...(flags.resume ? { resume: flags.resume } : {}),
      ...(flags.virtual ? { virtual: true } : {}),
      metric: 'output_throughput_tok_s',
      pareto: 'output_throughput_tok_s:max,ttft_p95_ms:min',
    });
    return { code: r.code, result: r.result };
  }
  io.stderr(`${describeSpec(loaded.spec)}\n`);
  if (flags.virtual)
    io.stderr(
      'virtual time: every server is a simulated engine in-process on one clock (no HTTP, no real waiting)\n',
    );
  const result = await runExperiment({
    loaded,
    ...experimentIo(io),
    ...(flags.resume ? { resumeDir: flags.resume } : {}),
    ...(flags.replay ? { replay: flags.replay } : {}),
    ...(flags.w1Ports ? { topologyPorts: true } : {}),
    ...(flags.virtual ? { mode: 'virtual' as const } : {}),
  });
  const ranNow = result.cells.filter((c) => !c.alreadyComplete);
  if (flags.resume && ranNow.length === 0 && !result.interrupted) {
    io.stderr(
      `resume: all ${result.cells.length} cell(s) of ${result.runDir} are already complete; nothing was run again\n`,
    );
  }
  // said once, however many cells it took; nothing measured is printed as if it had been
  sayLaunchFailure(io, result, 'the matrix');
  const lf = result.launchFailure;
  const interruptedLine = () => {
    const hint = flags.interruptedHint
      ? flags.interruptedHint(result)
      : `continue with: ${shellCommand(['servelab', ...(flags.virtual ? ['simulate'] : ['run']), loaded.file, '--resume', result.runDir])}`;
    io.stderr(`interrupted: cells done are kept${hint ? `; ${hint}` : ''}\n`);
  };
  if (!result.cells.some((c) => c.counts)) {
    // no report, no tables: there is nothing to analyse
    for (const w of result.warnings) io.stdout(`WARNING: ${w}\n`);
    io.stdout(`run directory: ${result.runDir} (nothing was measured; the reasons are in each cell.json)\n`);
    if (result.interrupted) {
      interruptedLine();
      return { code: EXIT.interrupted, result };
    }
    return { code: lf ? EXIT.launch : EXIT.failed, result };
  }
  // the analysis (windows, completion times, tails) writes each cell's summary.json, and the
  // run gets summary.csv, compare.md and the self-contained report.html
  const rep = await writeRunReport(result.runDir);
  for (const e of rep.errors) io.stderr(`analysis: ${e}\n`);
  // both tables come from the analysis (analysis/throughput.ts), as summary.json, summary.csv,
  // analyze, compare and the report do: one definition per number. Cells that never launched
  // have no tasks: the tables show what was measured, or nothing.
  const measured = rep.cells.filter((c) => c.counts.tasks > 0);
  if (measured.length) io.stdout(`\n${toTerminal(runTable(measured))}\n\n`);
  for (const w of result.warnings) io.stdout(`WARNING: ${w}\n`);
  // (a run in which no task ended, e.g. every cell failed its preflight, has nothing to show)
  if (measured.length) {
    const active = measured.flatMap((c) => c.windows).find((w) => w.kind === 'active')?.label;
    io.stdout(
      `ok tasks/min (ok steps/s) per window, all-ended tasks/min beside each: active = ${active ?? 'KV above the threshold'} (the users' window); ` +
        'client-side = from C programs in flight to the last dispatch; makespan = the whole cell. ' +
        'A task counts when it ENDS inside the window, a step (an orchestrator call) when it ends inside it; ' +
        '"ok" counts tasks and calls with status ok, "all ended" every one whatever its status.\n' +
        `${toTerminal(windowsOverviewTable(measured))}\n\n`,
    );
  }
  io.stdout(
    `analysis: ${rep.summaryPaths.length} summary.json file(s); windows and tails: ${shellCommand(['servelab', 'analyze', result.runDir])}\n`,
  );
  if (rep.reportPath) io.stdout(`report: ${rep.reportPath}\n`);
  const failed = result.cells.filter((c) => c.status === 'failed');
  io.stdout(`run directory: ${result.runDir}\n`);
  if (result.interrupted) {
    interruptedLine();
    return { code: EXIT.interrupted, result };
  }
  if (lf) return { code: EXIT.launch, result };
  if (failed.length > 0) {
    io.stderr(
      `${failed.length} cell(s) failed: ${failed.map((c) => c.id).join(', ')} (see their cell.json notes)\n`,
    );
    return { code: EXIT.failed, result };
  }
  return { code: EXIT.ok, result };
}

/**
 * `--dry-run`: the spec validated, its topologies parsed (exit 2), in real time every command
 * recipe's executable found (exit 3), then every cell of the plan printed.
 */
export function dryRun(ctx: CommandContext, loaded: LoadedSpec, mode: TimeMode): void {
  ctx.io.stdout(`${describeSpec(loaded.spec)}\n`);
  // in virtual time an arm that cannot be simulated is refused here, by name (exit 2)
  const plan = planExperiment(loaded.spec, mode);
  assertTopologies(loaded.spec, loaded.baseDir, mode);
  if (mode === 'real') assertLaunchable(loaded.spec, ctx.io.env);
  ctx.io.stdout(`${planLines(plan).join('\n')}\n`);
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
    .option(
      '--w1-ports',
      "simulated servers listen on the ports their topology names (W1: 1900, 1910-1913, ...), not on free ones (a spec's freePorts: true, the quickstart's default)",
    )
    .option(
      '--virtual',
      'virtual time (as `servelab simulate`): every server a simulated engine in-process, no HTTP, no real waiting',
    )
    .option(
      '--dry-run',
      'validate the spec, check that every command recipe can be started, print every cell of the plan, run nothing',
    )
    .action(
      async (
        file: string,
        flags: { resume?: string; replay?: string; dryRun?: boolean; w1Ports?: boolean; virtual?: boolean },
      ) => {
        // paths are the user's, relative to the directory servelab runs in (the injected cwd)
        const loaded = loadSpecFile(resolve(ctx.io.cwd, file));
        // the files it names, checked by --dry-run as by a run (before any server starts)
        checkSpecFiles(loaded, flags.replay ? { replay: resolve(ctx.io.cwd, flags.replay) } : {});
        if (flags.dryRun) {
          dryRun(ctx, loaded, flags.virtual ? 'virtual' : 'real');
          return;
        }
        const { code } = await executeSpec(ctx.io, loaded, {
          ...(flags.resume ? { resume: resolve(ctx.io.cwd, flags.resume) } : {}),
          ...(flags.replay ? { replay: resolve(ctx.io.cwd, flags.replay) } : {}),
          ...(flags.w1Ports ? { w1Ports: true } : {}),
          ...(flags.virtual ? { virtual: true } : {}),
        });
        ctx.setExit(code);
      },
    );
}

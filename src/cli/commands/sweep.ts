/**
 * `servelab sweep spec.yaml`: a W3 study as one spec. The planner (experiment/plan.ts) expands
 * arms x server configs (the sweep's points over the arms' `kind: vllm` servers) x load levels x
 * repetitions; the one runner (experiment/run-experiment.ts, as `servelab run`) starts fresh
 * servers for every cell, resumes and keeps partial runs. A request-stream workload's cells are
 * bench run directories, aggregated at the end by the same code as `servelab aggregate`:
 * experiment_results.csv (a column per swept flag), report.txt, viz_data.json, report.html.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { paretoOption } from '../../analysis/options.js';
import type { BenchRunInput } from '../../analysis/run-types.js';
import { checkSpecFiles, describeSpec, type LoadedSpec, loadSpecFile } from '../../config/index.js';
import { EXIT, ServelabError } from '../../errors.js';
import { type RunExperimentResult, runExperiment } from '../../experiment/run-experiment.js';
import { collectSbatchRun, sweepStatusLines } from '../../launch/slurm-status.js';
import { loadRuns } from '../../report/write.js';
import { readRunJson } from '../../rundir/run-dir.js';
import { shellCommand } from '../../shell-quote.js';
import type { CliIO } from '../io.js';
import { writeAggregate } from './aggregate.js';
import type { CommandContext } from './index.js';
import { dryRun, executeSpec, experimentIo, sayLaunchFailure } from './run.js';

export interface SweepFlags {
  /** an absolute run directory (the callers resolve it) */
  resume?: string;
  dryRun?: boolean;
  virtual?: boolean;
  compareParam?: string;
  metric: string;
  pareto: string;
  /** `sweep status <run> --aggregate` */
  aggregate?: boolean;
}

/** Runs a request-stream spec's plan and aggregates its cells; returns the exit code. */
export async function executeRequestSweep(
  io: CliIO,
  loaded: LoadedSpec,
  flags: SweepFlags,
): Promise<{ code: number; runDir: string; result: RunExperimentResult }> {
  const virtual = flags.virtual === true;
  io.stderr(`${describeSpec(loaded.spec)}\n`);
  const result = await runExperiment({
    loaded,
    ...experimentIo(io),
    ...(flags.resume ? { resumeDir: flags.resume } : {}),
    ...(virtual ? { mode: 'virtual' as const } : {}),
  });
  sayLaunchFailure(io, result, 'the sweep');
  const lf = result.launchFailure;
  // every cell that measured something (complete, interrupted, or failed mid-drive) is a row
  const measured = result.cells.filter((c) => c.phaseReached === 'teardown' || c.alreadyComplete);
  const dirs = measured.map((c) => join(result.runDir, c.id));
  const bench = (await loadRuns(dirs)).filter((r): r is BenchRunInput => r.kind === 'bench');
  if (bench.length > 0) {
    await writeAggregate(io, bench, result.runDir, {
      ...(flags.compareParam ? { compareParam: flags.compareParam } : {}),
      metric: flags.metric,
      pareto: flags.pareto,
      html: { title: `servelab sweep ${loaded.spec.name}` },
    });
  } else io.stdout('nothing was measured; the reasons are in each cell.json\n');
  io.stdout(`run directory: ${result.runDir}\n`);
  if (result.interrupted) {
    io.stderr(
      `interrupted: cells done are kept; continue with: ${shellCommand(['servelab', 'sweep', loaded.file, ...(virtual ? ['--virtual'] : []), '--resume', result.runDir])}\n`,
    );
    return { code: EXIT.interrupted, runDir: result.runDir, result };
  }
  if (lf) return { code: EXIT.launch, runDir: result.runDir, result };
  const failed = result.cells.filter((c) => c.status === 'failed');
  if (failed.length > 0) {
    io.stderr(
      `${failed.length} cell(s) failed: ${failed.map((c) => c.id).join(', ')} (see their cell.json notes)\n`,
    );
    return { code: EXIT.failed, runDir: result.runDir, result };
  }
  return { code: EXIT.ok, runDir: result.runDir, result };
}

export function registerSweep(program: Command, ctx: CommandContext): void {
  program
    .command('sweep')
    .description(
      'run a server-parameter sweep (W3): arms x server configs (sweep phases / params over kind: vllm servers) x load levels x repetitions, fresh servers for every cell; request-stream cells are aggregated into experiment_results.csv, report.txt, viz_data.json, report.html',
    )
    .argument('<spec>', 'the spec file (YAML), e.g. examples/w3-glm46-sweep.yaml; or `status`')
    .argument('[run]', '`servelab sweep status <run>`: where every cell of this run directory is')
    .option(
      '--dry-run',
      'validate the spec, print every cell of the plan and the argv of every server, run nothing',
    )
    .option(
      '--virtual',
      'virtual time: every server a simulated engine in-process (kind: vllm needs engine: sim)',
    )
    .option('--resume <runDir>', 'continue the plan of this run directory at the first cell not complete')
    .option(
      '--aggregate',
      "with status on a servelab sbatch run: read the ended jobs' results into their cells and aggregate them (experiment_results.csv, report.txt, viz_data.json, report.html)",
    )
    .option('--compare-param <name>', 'a swept flag to compare (e.g. max_num_batched_tokens)')
    .option('--metric <m>', 'the metric for --compare-param', 'output_throughput_tok_s')
    .option(
      '--pareto <x:dir,y:dir>',
      'the two metrics of the Pareto frontier',
      'output_throughput_tok_s:max,ttft_p95_ms:min',
    )
    .action(async (file: string, run: string | undefined, flags: SweepFlags) => {
      if (file === 'status') {
        if (!run)
          throw new ServelabError('BAD_FLAG', 'servelab sweep status needs a run directory', {
            hint: 'servelab sweep status runs/<name>-<time> (the directory the sweep printed)',
          });
        // planned / submitted (job id) / running / done / failed (why); squeue for live jobs
        const runDir = resolve(ctx.io.cwd, run);
        for (const line of await sweepStatusLines(runDir, { env: ctx.io.env })) ctx.io.stdout(`${line}\n`);
        if (flags.aggregate) {
          // a servelab sbatch run submitted by hand: the cells' results read back, then aggregated
          paretoOption(flags.pareto);
          const dirs = collectSbatchRun(runDir);
          const bench = (await loadRuns(dirs)).filter((r): r is BenchRunInput => r.kind === 'bench');
          if (bench.length === 0) {
            ctx.io.stdout('nothing to aggregate yet: no cell has bench results\n');
            ctx.setExit(EXIT.failed);
            return;
          }
          await writeAggregate(ctx.io, bench, runDir, {
            ...(flags.compareParam ? { compareParam: flags.compareParam } : {}),
            metric: flags.metric,
            pareto: flags.pareto,
            html: { title: `servelab sweep ${readRunJson(runDir)?.name ?? ''}`.trimEnd() },
          });
        }
        return;
      }
      if (run)
        throw new ServelabError('BAD_FLAG', `unexpected argument ${JSON.stringify(run)}`, {
          hint: 'servelab sweep <spec.yaml> [flags], or servelab sweep status <run directory>',
        });
      if (flags.aggregate)
        throw new ServelabError('BAD_FLAG', '--aggregate goes with servelab sweep status <run directory>', {
          hint: 'servelab sweep status <the servelab sbatch --run-dir> --aggregate',
        });
      const loaded = loadSpecFile(resolve(ctx.io.cwd, file));
      checkSpecFiles(loaded);
      paretoOption(flags.pareto);
      if (flags.dryRun) {
        dryRun(ctx, loaded, flags.virtual ? 'virtual' : 'real');
        return;
      }
      if (!loaded.spec.workload.requests) {
        // agent programs: the run's own analysis and report (`servelab run`), the same runner
        const { code } = await executeSpec(ctx.io, loaded, {
          ...(flags.resume ? { resume: resolve(ctx.io.cwd, flags.resume) } : {}),
          ...(flags.virtual ? { virtual: true } : {}),
        });
        ctx.setExit(code);
        return;
      }
      const { code } = await executeRequestSweep(ctx.io, loaded, {
        ...flags,
        ...(flags.resume ? { resume: resolve(ctx.io.cwd, flags.resume) } : {}),
      });
      ctx.setExit(code);
    });
}

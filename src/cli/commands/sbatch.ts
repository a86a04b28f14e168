/**
 * `servelab sbatch spec.yaml --out DIR`: renders one sbatch script per cell of the planner
 * (experiment/plan.ts: the same spec and cells as `servelab sweep`; launch/slurm.ts, Ray for
 * multi-node recipes) and a launch-all script, without submitting, for users who submit by hand
 * (W3). The spec's `launcher: {kind: slurm}` section gives the jobs' partition, nodes, GPUs,
 * exclude list and NCCL environment; `servelab sweep` with that launcher submits the same
 * scripts itself (launch/slurm-launcher.ts). Hand-submitted jobs stay visible: the plan goes
 * into the run directory's run.json (kind sbatch), launch-all.sh records every job id it
 * submits, each job records its own start and end, and `servelab sweep status RUN` reads them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { checkSpecFiles, loadSpecFile } from '../../config/index.js';
import { EXIT, ServelabError } from '../../errors.js';
import { planExperiment } from '../../experiment/plan.js';
import { type LaunchAllJob, renderCellJob, renderLaunchAll } from '../../launch/slurm.js';
import { cellRunMeta, slurmJobOf, slurmPortStride } from '../../launch/slurm-launcher.js';
import type { SbatchRunJson } from '../../launch/slurm-status.js';
import { readRunJson } from '../../rundir/run-dir.js';
import { shellCommand } from '../../shell-quote.js';
import { SERVELAB_VERSION } from '../../version.js';
import type { CommandContext } from './index.js';

async function sbatchAction(
  spec: string,
  f: { out: string; runDir?: string },
  ctx: CommandContext,
): Promise<number> {
  const io = ctx.io;
  const loaded = loadSpecFile(resolve(io.cwd, spec));
  checkSpecFiles(loaded);
  const s = loaded.spec;
  if (!s.workload.requests)
    throw new ServelabError(
      'BAD_CONFIG',
      `${spec}: servelab sbatch renders request-stream sweeps (workload.requests)`,
      {
        hint: 'the benchmark runs inside each job: give workload.requests (a dataset or suite) and rates or concurrency',
      },
    );
  const out = resolve(io.cwd, f.out);
  // the shared run directory every job writes its cell into (seen by every node)
  const runDir = f.runDir ? resolve(io.cwd, f.runDir) : resolve(loaded.baseDir, s.outDir, `${s.name}-sbatch`);
  const plan = planExperiment(s, 'real', { env: io.env });
  // every cell's job may be in the queue at once, several on one node: a port range per cell
  const stride = slurmPortStride(s, plan.cells, runDir, loaded.baseDir);
  const rendered = plan.cells.map((cell, i) => {
    const cellDir = join(runDir, cell.id);
    const job = slurmJobOf({ spec: s, cell, cellDir, baseDir: loaded.baseDir, portOffset: i * stride });
    return { cell, cellDir, r: renderCellJob(job) };
  });
  const before = readRunJson(runDir);
  if (before && before.kind !== 'sbatch')
    throw new ServelabError(
      'BAD_FLAG',
      `--run-dir ${runDir} already holds a run of kind ${before.kind ?? '?'} (its run.json)`,
      { hint: 'give servelab sbatch a run directory of its own (--run-dir DIR)' },
    );
  mkdirSync(out, { recursive: true });
  const jobs: LaunchAllJob[] = [];
  const planned: SbatchRunJson['jobs'] = {};
  for (const { cell, cellDir, r } of rendered) {
    const script = join(out, `${r.jobName}.sbatch`);
    writeFileSync(script, r.script, { mode: 0o755 });
    const output = join(cellDir, 'logs', `${r.jobName}-%j.out`);
    jobs.push({ script, output, cellDir });
    planned[cell.id] = { jobName: r.jobName, script, log: output, run: cellRunMeta(cell) };
    const nm =
      r.notModelled.length > 0 ? ` (not modelled by the simulator: ${r.notModelled.join(', ')})` : '';
    io.stdout(`${script}\t${cell.id}${nm}\n`);
  }
  // the plan, for servelab sweep status: here when the run directory is reachable from this
  // machine, and by launch-all.sh (which runs where the jobs are submitted) in any case
  const runJson: SbatchRunJson = {
    v: 1,
    kind: 'sbatch',
    name: s.name,
    createdAt: new Date().toISOString(),
    servelabVersion: SERVELAB_VERSION,
    cells: plan.cells.map((c) => c.id),
    scripts: out,
    jobs: planned,
  };
  const runJsonText = JSON.stringify(runJson);
  try {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'run.json'), `${runJsonText}\n`);
  } catch (e) {
    io.stderr(
      `note: the run directory ${runDir} is not writable from here (${(e as Error).message}); launch-all.sh writes its run.json\n`,
    );
  }
  const launchAll = join(out, 'launch-all.sh');
  writeFileSync(
    launchAll,
    renderLaunchAll(jobs, { submitted: join(out, 'submitted.tsv'), runDir, runJson: runJsonText }),
    { mode: 0o755 },
  );
  io.stdout(`${launchAll}\n`);
  io.stderr(
    `servelab sbatch ${SERVELAB_VERSION}: ${rendered.length} cell script(s) in ${out}, results to ${runDir}; nothing submitted (run ${launchAll} to submit them; then ${shellCommand(['servelab', 'sweep', 'status', runDir])} says where every cell is)\n`,
  );
  return EXIT.ok;
}

export function registerSbatch(program: Command, ctx: CommandContext): void {
  program
    .command('sbatch')
    .description(
      'render one sbatch script per sweep cell (Ray for multi-node) and a launch-all script; submits nothing',
    )
    .argument(
      '<spec>',
      'the sweep spec (YAML), as for servelab sweep; its launcher: {kind: slurm} section sets the jobs',
    )
    .requiredOption('--out <dir>', 'where the scripts go')
    .option(
      '--run-dir <dir>',
      'the shared run directory the jobs write into (default <outDir>/<name>-sbatch)',
    )
    .action(async (spec: string, flags: { out: string; runDir?: string }) => {
      ctx.setExit(await sbatchAction(spec, flags, ctx));
    });
}

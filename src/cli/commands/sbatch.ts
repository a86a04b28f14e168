/**
 * `servelab sbatch spec.yaml --out DIR`: renders one sbatch script per cell of a server-flag
 * sweep (launch/slurm.ts, Ray for multi-node recipes) and a launch-all script, without
 * submitting, for users who submit by hand (W3). The spec here is the sbatch file format of
 * README "SLURM": a base vLLM recipe, a grid of settings, the SLURM job and the bench flags.
 * (A `slurm` launcher of `servelab sweep` is meant to reuse launch/slurm.ts and slurm-jobs.ts.)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { z } from 'zod';
import { EXIT, ServelabError } from '../../errors.js';
import { VLLM_SETTINGS } from '../../knowledge/vllm-flags.js';
import { jobNameFor, renderCellJob, renderLaunchAll } from '../../launch/slurm.js';
import { compileCacheRoot, type VllmServerConfig } from '../../launch/vllm-recipe.js';
import { SERVELAB_VERSION } from '../../version.js';
import type { CommandContext } from './index.js';

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const sbatchSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  server: z.looseObject({ model: z.string().min(1) }),
  /** a grid: every combination of these settings' values is a cell */
  sweep: z
    .record(z.string(), z.array(z.union([scalar, z.record(z.string(), z.unknown())])).min(1))
    .optional(),
  slurm: z.strictObject({
    nodes: z.number().int().min(1).max(1024).optional(),
    gpus_per_node: z.number().int().min(0).max(64).optional(),
    partition: z.string().optional(),
    account: z.string().optional(),
    qos: z.string().optional(),
    time: z.string().optional(),
    exclude: z.array(z.string()).optional(),
    sbatch: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    port: z.number().int().min(1).max(65535).default(8000),
    /** the shared run directory, absolute, seen by every node */
    run_dir: z.string(),
    /** compile caches (default ~/.cache/servelab/compile) */
    cache_root: z.string().optional(),
    /** how servelab runs on the nodes (default: this node binary and this servelab) */
    servelab: z.array(z.string()).min(1).optional(),
    health_timeout_s: z.number().int().min(1).optional(),
    ray_wait_s: z.number().int().min(1).optional(),
  }),
  /** servelab bench flags run inside each job against its server */
  bench: z.array(z.union([z.string(), z.number()])).optional(),
});

type SbatchSpec = z.infer<typeof sbatchSpecSchema>;

function loadSbatchSpec(path: string, cwd: string): SbatchSpec {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8');
  } catch (e) {
    throw new ServelabError('BAD_FILE', `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new ServelabError('BAD_CONFIG', `${path}: not YAML: ${(e as Error).message}`);
  }
  const r = sbatchSpecSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${path}: ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ServelabError('BAD_CONFIG', `invalid sbatch spec\n  ${lines.join('\n  ')}`, {
      hint: 'see README "SLURM" for the keys: name, server, sweep, slurm, bench',
    });
  }
  const known = new Set(VLLM_SETTINGS.map((s) => s.key));
  for (const k of Object.keys(r.data.sweep ?? {})) {
    if (!known.has(k))
      throw new ServelabError('BAD_CONFIG', `${path}: sweep.${k} is not a vLLM setting servelab knows`, {
        hint: `known: ${[...known].join(', ')}`,
      });
  }
  return r.data;
}

/** Every combination of the sweep's values, in the order given (first key slowest). */
function grid(sweep: SbatchSpec['sweep']): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, vs] of Object.entries(sweep ?? {}))
    out = out.flatMap((o) => vs.map((v) => ({ ...o, [k]: v })));
  return out;
}

function cellId(name: string, settings: Record<string, unknown>): string {
  const parts = Object.entries(settings).map(
    ([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
  );
  return parts.length === 0 ? name : `${name}/${parts.join(',')}`;
}

async function sbatchAction(spec: string, f: { out: string }, ctx: CommandContext): Promise<number> {
  const io = ctx.io;
  const s = loadSbatchSpec(spec, io.cwd);
  const out = resolve(io.cwd, f.out);
  const runDir = s.slurm.run_dir;
  if (!runDir.startsWith('/'))
    throw new ServelabError(
      'BAD_CONFIG',
      `${spec}: slurm.run_dir "${runDir}" must be absolute (the jobs run on other nodes)`,
    );
  const cacheRoot = compileCacheRoot({
    home: io.env.HOME ?? homedir(),
    user: io.env.USER ?? userInfo().username,
    ...(s.slurm.cache_root !== undefined ? { root: s.slurm.cache_root } : {}),
    where: `${spec}: slurm.cache_root`,
  });
  const servelab = s.slurm.servelab ?? [
    process.execPath,
    resolve(import.meta.dirname, '..', '..', '..', 'bin', 'servelab.js'),
  ];
  const cells = grid(s.sweep);
  const rendered = cells.map((settings) => {
    const id = cellId(s.name, settings);
    const dirName = jobNameFor(id);
    const r = renderCellJob({
      cell: id,
      server: { ...(s.server as unknown as VllmServerConfig), ...settings },
      port: s.slurm.port,
      ...(s.slurm.nodes !== undefined ? { nodes: s.slurm.nodes } : {}),
      ...(s.slurm.gpus_per_node !== undefined ? { gpusPerNode: s.slurm.gpus_per_node } : {}),
      ...(s.slurm.partition !== undefined ? { partition: s.slurm.partition } : {}),
      ...(s.slurm.account !== undefined ? { account: s.slurm.account } : {}),
      ...(s.slurm.qos !== undefined ? { qos: s.slurm.qos } : {}),
      ...(s.slurm.time !== undefined ? { time: s.slurm.time } : {}),
      ...(s.slurm.exclude !== undefined ? { exclude: s.slurm.exclude } : {}),
      ...(s.slurm.sbatch !== undefined ? { sbatch: s.slurm.sbatch } : {}),
      ...(s.slurm.env !== undefined ? { env: s.slurm.env } : {}),
      cellDir: join(runDir, 'cells', dirName),
      logDir: join(runDir, 'logs', dirName),
      cacheRoot,
      servelab,
      ...(s.bench !== undefined ? { bench: s.bench.map(String) } : {}),
      ...(s.slurm.health_timeout_s !== undefined ? { healthTimeoutS: s.slurm.health_timeout_s } : {}),
      ...(s.slurm.ray_wait_s !== undefined ? { rayWaitS: s.slurm.ray_wait_s } : {}),
    });
    return { id, dirName, r };
  });
  mkdirSync(out, { recursive: true });
  const jobs: { script: string; output: string }[] = [];
  for (const { id, dirName, r } of rendered) {
    const script = join(out, `${dirName}.sbatch`);
    writeFileSync(script, r.script, { mode: 0o755 });
    jobs.push({ script, output: join(runDir, 'logs', `${dirName}-%j.out`) });
    const nm =
      r.notModelled.length > 0 ? ` (not modelled by the simulator: ${r.notModelled.join(', ')})` : '';
    io.stdout(`${script}\t${id}${nm}\n`);
  }
  const launchAll = join(out, 'launch-all.sh');
  writeFileSync(launchAll, renderLaunchAll(jobs), { mode: 0o755 });
  io.stdout(`${launchAll}\n`);
  io.stderr(
    `servelab sbatch ${SERVELAB_VERSION}: ${rendered.length} cell script(s) in ${out}; nothing submitted (run ${launchAll} to submit them)\n`,
  );
  return EXIT.ok;
}

export function registerSbatch(program: Command, ctx: CommandContext): void {
  program
    .command('sbatch')
    .description(
      'render one sbatch script per sweep cell (Ray for multi-node) and a launch-all script; submits nothing',
    )
    .argument('<spec>', 'sbatch spec (YAML): name, server, sweep, slurm, bench (README "SLURM")')
    .requiredOption('--out <dir>', 'where the scripts go')
    .action(async (spec: string, flags: { out: string }) => {
      ctx.setExit(await sbatchAction(spec, flags, ctx));
    });
}

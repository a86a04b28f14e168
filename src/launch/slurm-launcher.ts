/**
 * The `slurm` launcher (a spec's `launcher: {kind: slurm}`): every cell of the planner is one
 * SLURM job. The job (launch/slurm.ts renderCellJob) checks its nodes' GPUs, starts the cell's
 * servers, runs `servelab bench` against them from inside the job with the cell's workload and
 * load level, and writes the results into the cell's directory of the shared run directory;
 * the cell runner (experiment/cell.ts) submits it, polls squeue / scontrol (slurm-jobs.ts),
 * cancels it on Ctrl-C (scancel, waiting until SLURM says it ended), and reads the results back
 * into the cell directory as a request-stream cell's (run.json `config` = the swept flags and
 * load), so the aggregate is the same as a local sweep's. A job that found GPU memory in use on
 * a node is resubmitted with that node excluded (bounded by `busyRetries`); a job that fails or
 * times out is a failed cell with its log tail. `slurm-job.json` in the cell directory records
 * every submission, for `servelab sweep status`.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type { SlurmLauncherSpec, Spec, VllmServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import { benchArgsOf } from '../experiment/bench-args.js';
import type { CellResult, CellRunContext } from '../experiment/cell.js';
import type { Cell } from '../experiment/plan.js';
import { cellConfig } from '../experiment/request-driver.js';
import { type CellJson, writeCellJson } from '../rundir/run-dir.js';
import { jobNameFor, type RenderedJob, renderCellJob, type SlurmCellJob } from './slurm.js';
import { type SlurmClient, type SlurmJobResult, submitJob, waitJob } from './slurm-jobs.js';
import type { SlurmPoller } from './slurm-poller.js';

export const SLURM_JOB_FILE = 'slurm-job.json';

/** The words that run this servelab on a compute node (this node binary, this checkout's bin). */
export function defaultServelabWords(): string[] {
  return [process.execPath, resolve(import.meta.dirname, '..', '..', 'bin', 'servelab.js')];
}

export { benchArgsOf } from '../experiment/bench-args.js';

export interface SlurmJobInputs {
  spec: Spec;
  cell: Cell;
  /** the cell's directory (absolute, shared with the nodes) */
  cellDir: string;
  baseDir: string;
  /** `launcher.exclude` plus the busy nodes found so far */
  exclude?: readonly string[];
  /** added to the servers' port: jobs in the queue together never share a port on one node */
  portOffset?: number;
}

function launcherOf(spec: Spec): SlurmLauncherSpec | undefined {
  return spec.launcher?.kind === 'slurm' ? spec.launcher : undefined;
}

/** The SlurmCellJob of one planned cell (servelab sweep with launcher slurm, servelab sbatch). */
export function slurmJobOf(o: SlurmJobInputs): SlurmCellJob {
  const { spec, cell } = o;
  const where = `cell ${cell.id}`;
  const s = spec.servers[cell.server.name] as VllmServersSpec | undefined;
  if (s?.kind !== 'vllm' || !cell.server.vllm)
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: a SLURM job runs kind vllm servers; servers.${cell.server.name} is kind ${s?.kind ?? '?'}`,
    );
  const l = launcherOf(spec);
  const r = spec.workload.requests;
  if (!r)
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: a SLURM job runs a request-stream workload (workload.requests)`,
    );
  const nodes = l?.nodes ?? s.nodes;
  const gpusPerNode = l?.gpusPerNode ?? (nodes > 1 && s.gpus ? s.gpus.length : undefined);
  const exclude = [...new Set([...(l?.exclude ?? []), ...(o.exclude ?? [])])];
  const cacheRoot = cell.server.cacheRoot;
  if (!cacheRoot) throw new Error(`${where}: the plan has no compile-cache root (real time only)`);
  return {
    cell: cell.id,
    server: cell.server.vllm,
    port: s.port + (o.portOffset ?? 0),
    nodes,
    ...(gpusPerNode !== undefined ? { gpusPerNode } : {}),
    ...(l?.partition !== undefined ? { partition: l.partition } : {}),
    ...(l?.account !== undefined ? { account: l.account } : {}),
    ...(l?.qos !== undefined ? { qos: l.qos } : {}),
    ...(l?.time !== undefined ? { time: l.time } : {}),
    ...(exclude.length > 0 ? { exclude } : {}),
    ...(l?.sbatch !== undefined ? { sbatch: l.sbatch } : {}),
    ...(l?.env !== undefined ? { env: l.env } : {}),
    cellDir: o.cellDir,
    logDir: join(o.cellDir, 'logs'),
    cacheRoot,
    servelab: l?.servelab ?? s.servelab_bin ?? defaultServelabWords(),
    bench: benchArgsOf(cell, r, o.baseDir, {
      serverMetrics: spec.metrics.server,
      metricsIntervalMs: spec.metrics.intervalMs,
    }),
    healthTimeoutS: s.healthTimeoutS,
    ...(l?.rayWaitS !== undefined ? { rayWaitS: l.rayWaitS } : {}),
    ...(s.vllm_bin !== undefined ? { vllm: s.vllm_bin } : {}),
  };
}

/** One submission of a cell's job, as slurm-job.json records it. */
export interface SlurmAttempt {
  jobId: string;
  script: string;
  log: string;
  /** the port of the job's first server */
  port?: number;
  exclude: string[];
  submittedAt: string;
  /** when servelab saw the job end */
  endedAt?: string;
  state?: string;
  nodes?: string;
  exitCode?: number;
  reason?: string;
  busyNodes?: string[];
}

export interface SlurmJobFile {
  v: 1;
  cell: string;
  jobName: string;
  attempts: SlurmAttempt[];
}

export function readSlurmJob(dir: string): SlurmJobFile | null {
  try {
    return JSON.parse(readFileSync(join(dir, SLURM_JOB_FILE), 'utf8')) as SlurmJobFile;
  } catch {
    return null;
  }
}

/** The job's bench run directory becomes the cell's: its files, run.json's config the cell's. */
function importBenchResults(
  cell: Cell,
  dir: string,
): { measured: number; ok: number; error: number; incomplete: number } {
  return importBench(cellRunMeta(cell), dir);
}

/** What a cell's run.json gets beside the bench run's own fields (its id, swept flags, recipe). */
export interface CellRunMeta {
  name: string;
  config: Record<string, string | number | boolean>;
  vllm?: unknown;
  notModelled?: string[];
}

export function cellRunMeta(cell: Cell): CellRunMeta {
  return {
    name: cell.id,
    config: cellConfig(cell),
    ...(cell.server.vllm ? { vllm: cell.server.vllm } : {}),
    ...(cell.server.notModelled?.length ? { notModelled: cell.server.notModelled } : {}),
  };
}

export function importBench(
  m: CellRunMeta,
  dir: string,
): { measured: number; ok: number; error: number; incomplete: number } {
  const bench = join(dir, 'bench');
  if (!existsSync(join(bench, 'summary.json')))
    throw new ServelabError('LAUNCH_FAILED', `the job completed but wrote no ${join(bench, 'summary.json')}`);
  for (const f of readdirSync(bench)) {
    const p = join(bench, f);
    if (f === 'cell.json' || !statSync(p).isFile()) continue;
    copyFileSync(p, join(dir, f));
  }
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(
    join(dir, 'run.json'),
    `${JSON.stringify(
      {
        ...run,
        ...m,
      },
      null,
      2,
    )}\n`,
  );
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify({ ...summary, cell: m.name }, null, 2)}\n`);
  const c = (summary.counts ?? {}) as Record<string, number>;
  return { measured: c.measured ?? 0, ok: c.ok ?? 0, error: c.error ?? 0, incomplete: c.incomplete ?? 0 };
}

function lastLines(text: string | undefined, n: number): string {
  return (text ?? '').split('\n').slice(-n).join('\n');
}

function describeEnd(r: SlurmJobResult): string {
  const code =
    r.exitCode !== undefined ? ` (exit code ${r.exitCode}${r.signal ? `, signal ${r.signal}` : ''})` : '';
  return `job ${r.id} ended ${r.state}${code}${r.reason ? `, reason ${r.reason}` : ''}${r.nodes ? ` on ${r.nodes}` : ''}`;
}

/**
 * What the cells of one sweep share when several of their jobs are in the queue at once
 * (experiment/run-experiment.ts, `launcher.maxJobs`): one poller (one squeue per poll for every
 * job), and the nodes found with GPU memory in use, excluded from every later submission.
 */
export interface SlurmSweepShared {
  poller: SlurmPoller;
  busyNodes: string[];
  /** a job changed state (for the sweep's progress line) */
  onChange?: () => void;
  /** this cell's port offset (its slot among the jobs in the queue x slurmPortStride) */
  portOffset?: number;
}

/**
 * The ports one job of this plan takes at most (its DP replicas' ports): jobs in the queue
 * together listen on port + slot x this, so two jobs that share a node never collide.
 */
export function slurmPortStride(spec: Spec, cells: readonly Cell[], runDir: string, baseDir: string): number {
  let most = 1;
  for (const cell of cells) {
    if (cell.server.launcher !== 'slurm') continue;
    try {
      const job = slurmJobOf({ spec, cell, cellDir: join(runDir, cell.id), baseDir });
      most = Math.max(most, renderCellJob(job).ports.length);
    } catch {
      // a cell that does not render fails on its own, with its reason, when it runs
    }
  }
  return most;
}

/** Test hooks and what the runner passes. */
export interface SlurmCellOptions extends SlurmClient {
  /** override the launcher's poll interval (ms) */
  pollMs?: number;
}

/**
 * Runs one cell as a SLURM job (see the file comment). Never throws for a job that failed: the
 * cell is failed with the job's state and log tail; Ctrl-C (cx.signal) cancels the job and the
 * cell is interrupted once SLURM says the job ended.
 */
export async function runSlurmCell(
  cx: CellRunContext,
  cell: Cell,
  dir: string,
  o: SlurmCellOptions = {},
): Promise<CellResult> {
  const wall0 = performance.now();
  const l = launcherOf(cx.spec);
  if (!l) throw new Error('runSlurmCell: the spec has no slurm launcher');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const notes: string[] = [];
  const note = (n: string) => {
    notes.push(n);
    cx.log(`[${cell.id}] ${n}`);
  };
  const attempts: SlurmAttempt[] = [];
  const meta: CellJson = {
    v: 1,
    arm: cell.arm.name,
    concurrency: cell.concurrency,
    rep: cell.rep,
    seed: cell.seed,
    status: 'running',
    startMs: cx.now(),
    programFields: cell.arm.programFields,
    timeScale: 1,
    notes,
    ...(cell.load.kind === 'rate' ? { load: cell.load } : {}),
    ...(cell.server.vllm
      ? {
          serverConfig: {
            ...(cell.server.label ? { label: cell.server.label } : {}),
            params: cell.server.params,
            vllm: cell.server.vllm,
            ...(cell.server.notModelled?.length ? { notModelled: cell.server.notModelled } : {}),
          },
        }
      : {}),
    slurm: { attempts },
  };
  const save = () => writeCellJson(dir, cx.secrets.scrubValue(meta));
  let jobName = jobNameFor(cell.id);
  const saveJob = () =>
    writeFileSync(
      join(dir, SLURM_JOB_FILE),
      `${JSON.stringify(cx.secrets.scrubValue({ v: 1, cell: cell.id, jobName, attempts } satisfies SlurmJobFile), null, 2)}\n`,
    );
  save();
  const base = { id: cell.id, arm: cell.arm.name, concurrency: cell.concurrency, rep: cell.rep };
  const client: SlurmClient = { ...(o.exec ? { exec: o.exec } : {}), env: cx.env };
  // the sweep's busy nodes (shared by the cells in the queue together), else this cell's own
  const busy: string[] = cx.slurm?.busyNodes ?? [];
  let status: CellResult['status'] = 'failed';
  let phase = 'launch' as NonNullable<CellResult['phaseReached']>;
  try {
    for (let attempt = 0; ; attempt++) {
      if (cx.signal?.aborted) {
        status = 'interrupted';
        break;
      }
      const job = slurmJobOf({
        spec: cx.spec,
        cell,
        cellDir: dir,
        baseDir: cx.baseDir,
        exclude: busy,
        ...(cx.slurm?.portOffset ? { portOffset: cx.slurm.portOffset } : {}),
      });
      const rendered: RenderedJob = renderCellJob(job);
      jobName = rendered.jobName;
      const script = join(dir, `job-${attempt + 1}.sbatch`);
      writeFileSync(script, rendered.script, { mode: 0o755 });
      const output = join(dir, 'logs', `${rendered.jobName}-%j.out`);
      rmSync(join(dir, 'busy-nodes.txt'), { force: true });
      const id = await submitJob({ script, output, cwd: dir }, client);
      const log = output.replace('%j', id);
      const a: SlurmAttempt = {
        jobId: id,
        script,
        log,
        exclude: job.exclude ? [...job.exclude] : [],
        port: job.port,
        submittedAt: new Date().toISOString(),
        state: 'PENDING',
      };
      attempts.push(a);
      saveJob();
      save();
      cx.log(
        `[${cell.id}] submitted job ${id}${a.exclude.length ? ` (excluding ${a.exclude.join(',')})` : ''}; log ${log}`,
      );
      const watch = {
        logPath: log,
        cellDir: dir,
        ...(l.jobTimeoutS !== undefined ? { timeoutMs: l.jobTimeoutS * 1000 } : {}),
        onState: (st: { state: string; nodes?: string }) => {
          a.state = st.state;
          if (st.nodes) a.nodes = st.nodes;
          if (st.state === 'RUNNING') phase = 'drive';
          saveJob();
          cx.log(`[${cell.id}] job ${id}: ${st.state}${st.nodes ? ` on ${st.nodes}` : ''}`);
          cx.slurm?.onChange?.();
        },
      };
      // several jobs in the queue: the sweep's poller (one squeue for all); else this job alone
      const r = cx.slurm
        ? await cx.slurm.poller.wait(id, watch)
        : await waitJob(id, {
            ...client,
            pollMs: o.pollMs ?? l.pollS * 1000,
            ...(cx.signal ? { signal: cx.signal } : {}),
            ...watch,
          });
      a.state = r.state;
      a.endedAt = new Date().toISOString();
      if (r.nodes) a.nodes = r.nodes;
      if (r.exitCode !== undefined) a.exitCode = r.exitCode;
      if (r.reason) a.reason = r.reason;
      if (r.busyNodes?.length) a.busyNodes = r.busyNodes;
      saveJob();
      if (r.ok) {
        phase = 'teardown';
        meta.requests = importBenchResults(cell, dir);
        status = 'complete';
        break;
      }
      if (r.cancelled && cx.signal?.aborted) {
        note(`interrupted: job ${id} cancelled (scancel); SLURM says it ended ${r.state}`);
        status = 'interrupted';
        break;
      }
      if (r.busyNodes?.length) {
        // fresh for this job: another cell may have found the node busy after this job was submitted
        const fresh = r.busyNodes.filter((n) => !a.exclude.includes(n));
        busy.push(...r.busyNodes.filter((n) => !busy.includes(n)));
        note(
          `job ${id}: node(s) ${r.busyNodes.join(', ')} have GPU memory in use (a dead job holding them?); ` +
            (attempt < l.busyRetries
              ? `resubmitting without ${busy.join(', ')}`
              : `no resubmit left (busyRetries ${l.busyRetries})`),
        );
        if (attempt < l.busyRetries && fresh.length > 0) continue;
      }
      const timedOut = r.cancelled ? `, cancelled after launcher.jobTimeoutS ${l.jobTimeoutS} s` : '';
      meta.slurm = { attempts, logTail: r.logTail ?? '' };
      meta.failure = {
        phase: phase === 'drive' ? 'drive' : 'launch',
        message: `${describeEnd(r)}${timedOut}; last lines of ${log}:\n${lastLines(r.logTail, 15)}`,
        hint: `the whole log: ${log}; the servers' logs: ${join(dir, 'logs')}`,
      };
      note(`cell failed: ${describeEnd(r)}${timedOut}`);
      status = 'failed';
      break;
    }
  } catch (err) {
    status = cx.signal?.aborted ? 'interrupted' : 'failed';
    if (status === 'failed') {
      meta.failure = {
        phase: phase === 'drive' ? 'drive' : 'launch',
        message: (err as Error).message,
        ...(err instanceof ServelabError && err.hint ? { hint: err.hint } : {}),
      };
    }
    note(`cell ${status}: ${(err as Error).message}`);
    if (!(err instanceof ServelabError) && !cx.signal?.aborted) throw err;
  } finally {
    meta.status = status;
    meta.phaseReached = phase;
    meta.endMs = cx.now();
    save();
  }
  return {
    ...base,
    status,
    phaseReached: phase,
    wallS: (performance.now() - wall0) / 1000,
    ...(meta.failure ? { failure: meta.failure } : {}),
  };
}

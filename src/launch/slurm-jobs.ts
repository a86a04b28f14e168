/**
 * Submit, poll and cancel SLURM jobs: `sbatch --parsable` (argv, no shell), then `scontrol show
 * job -o` (squeue when scontrol no longer knows the job) on a fixed interval, never
 * `sbatch --wait`; an abort (Ctrl-C) cancels the job with scancel and waits until SLURM says it
 * ended, so nothing is left running. A job that fails or times out comes back with the tail of
 * its log; one that found GPU memory in use on a node (slurm.ts BUSY_NODE_EXIT) with those
 * nodes' names, for the caller to exclude on retry.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServelabError } from '../errors.js';
import { type ExecFileFn, execFileNode } from '../preflight/gpu.js';
import { BUSY_NODE_EXIT } from './slurm.js';

/** The states in which a job has ended. */
export const ENDED_STATES = [
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
] as const;

export const SLURM_STATES = [
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'RESIZING',
  ...ENDED_STATES,
  'UNKNOWN',
] as const;
export type SlurmState = (typeof SLURM_STATES)[number];

export const ENDED: ReadonlySet<SlurmState> = new Set(ENDED_STATES);

export interface SlurmJobStatus {
  id: string;
  state: SlurmState;
  /** true once SLURM says the job ended (or forgot it) */
  ended: boolean;
  exitCode?: number;
  signal?: number;
  reason?: string;
  nodes?: string;
}

export interface SlurmJobResult extends SlurmJobStatus {
  ok: boolean;
  /** the last lines of the job's log, for a job that did not complete */
  logTail?: string;
  /** nodes the job found with GPU memory in use (busy-nodes.txt in the cell directory) */
  busyNodes?: string[];
  /** the job was cancelled by us (abort) */
  cancelled?: boolean;
}

export interface SlurmClient {
  exec?: ExecFileFn;
  env?: NodeJS.ProcessEnv;
}

async function run(c: SlurmClient, file: string, args: string[], timeoutMs = 30_000) {
  const exec = c.exec ?? execFileNode;
  try {
    return await exec(file, args, { timeoutMs });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (err.code === 'ENOENT')
      throw new ServelabError('LAUNCH_FAILED', `${file} is not on PATH (is this a SLURM login node?)`, {
        hint: 'run servelab sbatch --out DIR to render the scripts and submit them where SLURM is',
      });
    throw Object.assign(new Error(`${file} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`), {
      stderr: err.stderr ?? '',
    });
  }
}

/** Submits a script; returns the job id. `output` is the job's log file (%j: the job id). */
export async function submitJob(
  o: { script: string; output: string; args?: readonly string[]; cwd?: string },
  c: SlurmClient = {},
): Promise<string> {
  const args = [
    '--parsable',
    `--output=${o.output}`,
    ...(o.cwd ? [`--chdir=${o.cwd}`] : []),
    ...(o.args ?? []),
    o.script,
  ];
  let out: string;
  try {
    out = (await run(c, 'sbatch', args)).stdout;
  } catch (e) {
    if (e instanceof ServelabError) throw e;
    throw new ServelabError('LAUNCH_FAILED', `sbatch refused ${o.script}: ${(e as Error).message}`, {
      hint: 'check the #SBATCH lines (partition, account, GPUs) against `sinfo`',
    });
  }
  const id = out.trim().split(';')[0] ?? '';
  if (!/^\d+(_\d+)?$/.test(id))
    throw new ServelabError('LAUNCH_FAILED', `sbatch answered ${JSON.stringify(out.trim())}, not a job id`);
  return id;
}

/** Parses one `scontrol show job -o` line into key=value pairs (values may hold spaces only in the last keys). */
export function parseScontrolLine(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\S+?)=(.*?)(?=\s+\S+?=|$)/g;
  for (const m of line.trim().matchAll(re)) out[m[1]!] = m[2]!;
  return out;
}

export function asState(s: string | undefined): SlurmState {
  const base = (s ?? '').split(/[\s+]/)[0]!.toUpperCase();
  return (SLURM_STATES as readonly string[]).includes(base) ? (base as SlurmState) : 'UNKNOWN';
}

/** The job's state now: scontrol first (exit code, reason, nodes), squeue when scontrol forgot it. */
export async function jobStatus(id: string, c: SlurmClient = {}): Promise<SlurmJobStatus> {
  try {
    const { stdout } = await run(c, 'scontrol', ['show', 'job', '-o', id]);
    const f = parseScontrolLine(stdout.split('\n')[0] ?? '');
    const state = asState(f.JobState);
    const st: SlurmJobStatus = { id, state, ended: ENDED.has(state) };
    const ec = /^(\d+):(\d+)$/.exec(f.ExitCode ?? '');
    if (ec) {
      st.exitCode = Number(ec[1]);
      st.signal = Number(ec[2]);
    }
    if (f.Reason && f.Reason !== 'None') st.reason = f.Reason;
    if (f.NodeList && f.NodeList !== '(null)') st.nodes = f.NodeList;
    return st;
  } catch (e) {
    if (e instanceof ServelabError) throw e;
    if (!/Invalid job id/i.test((e as Error).message)) throw e;
  }
  const { stdout } = await run(c, 'squeue', ['-h', '-j', id, '-o', '%T']).catch(() => ({ stdout: '' }));
  const s = stdout.trim();
  if (s === '') return { id, state: 'UNKNOWN', ended: true };
  const state = asState(s);
  return { id, state, ended: ENDED.has(state) };
}

/** scancel; no error when the job already ended. */
export async function cancelJob(id: string, c: SlurmClient = {}): Promise<void> {
  await run(c, 'scancel', [id]).catch((e: unknown) => {
    if (!/Invalid job id|already completing or completed/i.test((e as Error).message)) throw e;
  });
}

/** The last `lines` lines of a file, or a note saying why there are none. */
export function logTail(path: string, lines = 40): string {
  try {
    const t = readFileSync(path, 'utf8').split('\n');
    if (t.at(-1) === '') t.pop();
    return t.slice(-lines).join('\n');
  } catch (e) {
    return `(no log at ${path}: ${(e as Error).message})`;
  }
}

export interface WaitOptions extends SlurmClient {
  pollMs?: number;
  /** cancel the job (scancel) and wait until it ended */
  signal?: AbortSignal;
  /** the job's log file with %j replaced (for the tail of a failed job) */
  logPath?: string;
  /** the cell directory (busy-nodes.txt) */
  cellDir?: string;
  onState?: (s: SlurmJobStatus) => void;
  /** give up polling a job that is still pending/running after this long (then cancel it) */
  timeoutMs?: number;
}

/** Sleeps ms, or until the signal aborts; the abort listener is removed either way (one per poll). */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((res) => {
    const onAbort = () => {
      clearTimeout(t);
      res();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Polls until the job ended; on abort or timeout cancels it first. Never rejects for a failed job. */
export async function waitJob(id: string, o: WaitOptions = {}): Promise<SlurmJobResult> {
  const pollMs = o.pollMs ?? 1000;
  const start = Date.now();
  let last: SlurmState | undefined;
  let cancelled = false;
  for (;;) {
    if (
      !cancelled &&
      (o.signal?.aborted || (o.timeoutMs !== undefined && Date.now() - start > o.timeoutMs))
    ) {
      cancelled = true;
      await cancelJob(id, o);
    }
    const st = await jobStatus(id, o);
    if (st.state !== last) {
      last = st.state;
      o.onState?.(st);
    }
    if (st.ended) {
      const ok = st.state === 'COMPLETED' && (st.exitCode ?? 0) === 0 && !cancelled;
      const r: SlurmJobResult = { ...st, ok, ...(cancelled ? { cancelled } : {}) };
      if (!ok && o.logPath) r.logTail = logTail(o.logPath);
      if (!ok && o.cellDir && st.exitCode === BUSY_NODE_EXIT) {
        try {
          r.busyNodes = readFileSync(join(o.cellDir, 'busy-nodes.txt'), 'utf8')
            .split('\n')
            .filter((l) => l.trim() !== '');
        } catch {
          // no file: not a busy-node exit after all
        }
      }
      return r;
    }
    await sleep(pollMs, cancelled ? undefined : o.signal);
  }
}

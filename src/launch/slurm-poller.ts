/**
 * Several SLURM jobs watched at once (a sweep's `launcher.maxJobs` cells in the queue together):
 * ONE `squeue -h -t all -j ID,ID,... ` call per poll for every job watched (not one per job);
 * `scontrol show job` only for a job that squeue says ended (its exit code), or that squeue no
 * longer knows. An abort (Ctrl-C) cancels every job still watched with one scancel and keeps
 * polling until SLURM says each ended, so nothing is left queued or running; a job past its
 * timeout is cancelled alone. Each waiter resolves as its own job ends (slurm-jobs.ts waitJob's
 * result: state, exit code, log tail, busy nodes), never rejects for a failed job.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServelabError } from '../errors.js';
import { execFileNode } from '../preflight/gpu.js';
import { BUSY_NODE_EXIT } from './slurm.js';
import {
  asState,
  ENDED,
  jobStatus,
  logTail,
  type SlurmClient,
  type SlurmJobResult,
  type SlurmJobStatus,
  type SlurmState,
  type WaitOptions,
} from './slurm-jobs.js';

/** What one squeue line says about a job (`%i|%T|%r|%N`). */
export interface SqueueRow {
  id: string;
  state: SlurmState;
  reason?: string;
  nodes?: string;
}

/** Parses `squeue -h -o '%i|%T|%r|%N'` output into rows by job id. */
export function parseSqueueRows(text: string): Map<string, SqueueRow> {
  const out = new Map<string, SqueueRow>();
  for (const line of text.split('\n')) {
    const [id, state, reason, nodes] = line.trim().split('|');
    if (!id) continue;
    const row: SqueueRow = { id, state: asState(state) };
    if (reason && reason !== 'None') row.reason = reason;
    if (nodes && nodes !== '(null)') row.nodes = nodes;
    out.set(id, row);
  }
  return out;
}

/** The per-job options of SlurmPoller.wait (the poll interval and the abort are the poller's). */
export type PollerWaitOptions = Pick<WaitOptions, 'logPath' | 'cellDir' | 'onState' | 'timeoutMs'>;

interface Watched {
  id: string;
  o: PollerWaitOptions;
  start: number;
  last?: SlurmState;
  cancelled: boolean;
  resolve: (r: SlurmJobResult) => void;
  reject: (e: unknown) => void;
}

export interface SlurmPollerOptions extends SlurmClient {
  pollMs: number;
  /** Ctrl-C: scancel every job watched, then wait until each ended */
  signal?: AbortSignal;
  /** consecutive squeue failures tolerated before every waiter is rejected (default 5) */
  maxFailures?: number;
  /** a note line (a transient squeue failure) */
  log?: (line: string) => void;
}

/** Sleeps ms, or until woken (abort, a new job); the listener is removed either way. */
function nap(ms: number, signal: AbortSignal | undefined, wake: { fn?: () => void }): Promise<void> {
  return new Promise<void>((res) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      wake.fn = undefined;
      res();
    };
    const t = setTimeout(done, ms);
    wake.fn = done;
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class SlurmPoller {
  private readonly watched = new Map<string, Watched>();
  private loop: Promise<void> | undefined;
  private readonly wake: { fn?: () => void } = {};
  private failures = 0;
  /** squeue calls made (one per poll), for tests and the log */
  squeueCalls = 0;
  /** the largest number of jobs one squeue call asked about */
  maxBatch = 0;

  constructor(private readonly o: SlurmPollerOptions) {}

  /** How many jobs are watched now, and in which state SLURM last said they were. */
  states(): SlurmState[] {
    return [...this.watched.values()].map((w) => w.last ?? 'PENDING');
  }

  /** Resolves when job `id` ended (cancelled first on abort or after o.timeoutMs). */
  wait(id: string, o: PollerWaitOptions = {}): Promise<SlurmJobResult> {
    return new Promise<SlurmJobResult>((resolve, reject) => {
      this.watched.set(id, { id, o, start: Date.now(), cancelled: false, resolve, reject });
      if (this.o.signal?.aborted) this.wake.fn?.();
      this.loop ??= this.run().finally(() => {
        this.loop = undefined;
      });
    });
  }

  private async cancel(ws: Watched[]): Promise<void> {
    const ids = ws.filter((w) => !w.cancelled).map((w) => w.id);
    if (ids.length === 0) return;
    for (const w of ws) w.cancelled = true;
    const exec = this.o.exec ?? execFileNode;
    try {
      await exec('scancel', ids, { timeoutMs: 30_000 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      const text = (err.stderr || err.message).trim();
      // a job that ended meanwhile: scancel says so and cancels the others
      const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^Command failed/.test(l));
      if (lines.some((l) => !/Invalid job id|already completing or completed/i.test(l)))
        this.o.log?.(`scancel ${ids.join(' ')}: ${text}`);
    }
  }

  private async squeue(ids: string[]): Promise<Map<string, SqueueRow> | undefined> {
    const exec = this.o.exec ?? execFileNode;
    this.squeueCalls++;
    this.maxBatch = Math.max(this.maxBatch, ids.length);
    try {
      const { stdout } = await exec('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%r|%N'], {
        timeoutMs: 30_000,
      });
      this.failures = 0;
      return parseSqueueRows(stdout);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === 'ENOENT')
        throw new ServelabError('LAUNCH_FAILED', 'squeue is not on PATH (is this a SLURM login node?)', {
          hint: 'run servelab sbatch --out DIR to render the scripts and submit them where SLURM is',
        });
      const text = (err.stderr || err.message).trim();
      // every id unknown to squeue (long ended): scontrol / the jobcomp decide, job by job
      if (/Invalid job id/i.test(text)) {
        this.failures = 0;
        return new Map();
      }
      this.failures++;
      this.o.log?.(`squeue failed (${this.failures} in a row): ${text.split('\n')[0]}`);
      if (this.failures >= (this.o.maxFailures ?? 5))
        throw new Error(`squeue failed ${this.failures} times in a row: ${text}`);
      return undefined;
    }
  }

  /** squeue says the job ended (row) or does not list it: scontrol decides; false when it still runs. */
  private async ended(w: Watched, row: SqueueRow | undefined): Promise<boolean> {
    // scontrol for the exit code (or UNKNOWN once SLURM forgot the job)
    let st: SlurmJobStatus;
    try {
      st = await jobStatus(w.id, this.o);
    } catch {
      st = { id: w.id, state: row?.state ?? 'UNKNOWN', ended: true };
    }
    // squeue missed a job scontrol says is queued or running: poll it again
    if (!st.ended && !row) return false;
    if (!st.ended && row) st = { ...st, state: row.state, ended: true };
    if (!st.nodes && row?.nodes) st.nodes = row.nodes;
    if (st.state !== w.last) {
      w.last = st.state;
      w.o.onState?.(st);
    }
    const ok = st.state === 'COMPLETED' && (st.exitCode ?? 0) === 0 && !w.cancelled;
    const r: SlurmJobResult = { ...st, ended: true, ok, ...(w.cancelled ? { cancelled: true } : {}) };
    if (!ok && w.o.logPath) r.logTail = logTail(w.o.logPath);
    if (!ok && w.o.cellDir && st.exitCode === BUSY_NODE_EXIT) {
      try {
        r.busyNodes = readFileSync(join(w.o.cellDir, 'busy-nodes.txt'), 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '');
      } catch {
        // no file: not a busy-node exit after all
      }
    }
    this.watched.delete(w.id);
    w.resolve(r);
    return true;
  }

  private async run(): Promise<void> {
    // the jobs submitted together are watched from the first poll on
    await new Promise<void>((res) => setImmediate(res));
    try {
      while (this.watched.size > 0) {
        const all = [...this.watched.values()];
        if (this.o.signal?.aborted) await this.cancel(all);
        const late = all.filter(
          (w) => !w.cancelled && w.o.timeoutMs !== undefined && Date.now() - w.start > w.o.timeoutMs,
        );
        if (late.length > 0) await this.cancel(late);
        const rows = await this.squeue(all.map((w) => w.id));
        if (rows) {
          for (const w of all) {
            const row = rows.get(w.id);
            if (!row || ENDED.has(row.state)) await this.ended(w, row);
            else if (row.state !== w.last) {
              w.last = row.state;
              w.o.onState?.({
                id: w.id,
                state: row.state,
                ended: false,
                ...(row.reason ? { reason: row.reason } : {}),
                ...(row.nodes ? { nodes: row.nodes } : {}),
              });
            }
          }
        }
        if (this.watched.size === 0) break;
        // after the abort, poll on (no nap cut short) until SLURM says every job ended
        const cancelling = [...this.watched.values()].every((w) => w.cancelled);
        await nap(this.o.pollMs, cancelling ? undefined : this.o.signal, this.wake);
      }
    } catch (e) {
      for (const w of this.watched.values()) w.reject(e);
      this.watched.clear();
    }
  }
}

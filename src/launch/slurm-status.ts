/**
 * Where every cell of a SLURM run is (`servelab sweep status`), for runs `servelab sweep`
 * submitted (slurm-job.json) and for scripts `servelab sbatch` rendered and the user submitted by
 * hand (the sbatch run.json, launch-all.sh's job ids and each job's own slurm-events.jsonl):
 * one squeue for every known job id, scontrol for the ones squeue no longer lists, and the
 * results of ended jobs collected into their cells for the aggregate.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServelabError } from '../errors.js';
import { execFileNode } from '../preflight/gpu.js';
import { readCellJson, readRunJson } from '../rundir/run-dir.js';
import { shellCommand } from '../shell-quote.js';
import { BUSY_NODE_EXIT, SLURM_EVENTS_FILE } from './slurm.js';
import { ENDED, jobStatus, type SlurmClient } from './slurm-jobs.js';
import { type CellRunMeta, importBench, readSlurmJob } from './slurm-launcher.js';
import { parseSqueueRows, type SqueueRow } from './slurm-poller.js';

/** The run.json `servelab sbatch` writes into the run directory (and launch-all.sh, where it runs). */
export interface SbatchRunJson {
  v: 1;
  kind: 'sbatch';
  name: string;
  createdAt: string;
  servelabVersion: string;
  cells: string[];
  /** where the scripts are (`--out`) */
  scripts: string;
  /** per cell: its job name, script and log (`%j`: the job id, as launch-all.sh passes it) */
  jobs: Record<string, { jobName: string; script: string; log: string; run: CellRunMeta }>;
}

/**
 * `servelab sweep status <run> --aggregate` for a `servelab sbatch` run: every cell whose job
 * wrote its bench results has them copied up into the cell directory with run.json's config the
 * cell's (as `servelab sweep` does when it reads a job's results back); returns those cells'
 * directories, for the aggregate.
 */
export function collectSbatchRun(runDir: string): string[] {
  const run = readRunJson(runDir);
  if (run?.kind !== 'sbatch')
    throw new ServelabError('BAD_FLAG', `${runDir} is not a servelab sbatch run directory`, {
      hint: 'a servelab sweep run is aggregated by the sweep itself; --aggregate is for servelab sbatch --run-dir DIR',
    });
  const jobs = (run as unknown as SbatchRunJson).jobs ?? {};
  const dirs: string[] = [];
  for (const id of run.cells ?? []) {
    const dir = join(runDir, id);
    const meta = jobs[id]?.run;
    if (!meta || !existsSync(join(dir, 'bench', 'summary.json'))) continue;
    importBench(meta, dir);
    dirs.push(dir);
  }
  return dirs;
}

/** One line of a cell's slurm-events.jsonl (launch/slurm.ts SLURM_EVENTS_FILE). */
export interface SlurmEvent {
  v?: number;
  event: 'submitted' | 'started' | 'ended' | string;
  jobId: string;
  at?: string;
  script?: string;
  log?: string;
  cell?: string;
  nodes?: string;
  host?: string;
  exitCode?: number;
}

/** The events of a cell directory, in order; lines that do not parse (a line cut mid-write) are skipped. */
export function readSlurmEvents(dir: string): SlurmEvent[] {
  let text: string;
  try {
    text = readFileSync(join(dir, SLURM_EVENTS_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: SlurmEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as SlurmEvent;
      if (e && typeof e.jobId === 'string' && e.jobId !== '' && typeof e.event === 'string') out.push(e);
    } catch {
      // a partial line
    }
  }
  return out;
}

/** What the events say about a cell's latest job (the last job id recorded). */
function latestJob(events: readonly SlurmEvent[]) {
  const id = events.at(-1)?.jobId;
  if (!id) return undefined;
  const of = events.filter((e) => e.jobId === id);
  const submitted = of.find((e) => e.event === 'submitted');
  const started = of.find((e) => e.event === 'started');
  const ended = of.find((e) => e.event === 'ended');
  return {
    id,
    ...(submitted?.log ? { log: submitted.log.replaceAll('%j', id) } : {}),
    ...(started?.nodes ? { nodes: started.nodes } : {}),
    started: started !== undefined,
    ...(typeof ended?.exitCode === 'number' ? { exitCode: ended.exitCode } : {}),
  };
}

/** `squeue -h -t all` rows of these jobs (one call), keyed by job id; undefined when squeue failed. */
async function squeueJobs(
  args: string[],
  client: SlurmClient,
): Promise<{ rows: Map<string, SqueueRow & { name?: string; command?: string }> } | { error: string }> {
  const exec = client.exec ?? execFileNode;
  try {
    const { stdout } = await exec('squeue', ['-h', '-t', 'all', ...args, '-o', '%i|%T|%r|%N|%j|%o'], {
      timeoutMs: 30_000,
    });
    const rows = new Map<string, SqueueRow & { name?: string; command?: string }>();
    for (const line of stdout.split('\n')) {
      const [id, state, reason, nodes, name, ...cmd] = line.trim().split('|');
      if (!id) continue;
      rows.set(id, {
        ...parseSqueueRows([id, state, reason, nodes].join('|')).get(id)!,
        ...(name ? { name } : {}),
        ...(cmd.length ? { command: cmd.join('|') } : {}),
      });
    }
    return { rows };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    const text = (err.stderr || err.message).trim();
    // every id unknown to squeue: scontrol decides, job by job
    if (/Invalid job id/i.test(text)) return { rows: new Map() };
    return { error: err.code === 'ENOENT' ? 'squeue is not on PATH' : text.split('\n')[0]! };
  }
}

const PENDING_STATES = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'SUSPENDED', 'RESIZING']);

/**
 * One line per cell of a run directory: planned / submitted (job id, pending reason) / running
 * (job id, nodes) / done / failed (why) / interrupted. A `servelab sweep` run: each cell.json and
 * slurm-job.json. A `servelab sbatch` run submitted by hand: each cell's slurm-events.jsonl (the
 * ids launch-all.sh recorded, each job's own start and end), and for a cell with no id a job of
 * its name running its script. Live states come from ONE squeue for every known job (scontrol
 * for a job squeue no longer lists).
 */
export async function sweepStatusLines(runDir: string, client: SlurmClient = {}): Promise<string[]> {
  const run = readRunJson(runDir);
  if (!run)
    throw new ServelabError('NOT_FOUND', `${runDir} is not a run directory (no run.json)`, {
      hint: 'pass the directory `servelab sweep` printed as "run directory: ..." (or servelab sbatch --run-dir)',
    });
  const ids = Array.isArray(run.cells) ? (run.cells as string[]) : [];
  const sbatchJobs = run.kind === 'sbatch' ? ((run as unknown as SbatchRunJson).jobs ?? {}) : {};
  const views = ids.map((id) => {
    const dir = join(runDir, id);
    const c = readCellJson(dir);
    const attempt = readSlurmJob(dir)?.attempts.at(-1);
    const ev = latestJob(readSlurmEvents(dir));
    return { id, dir, c, attempt, ev, jobId: attempt?.jobId ?? ev?.id };
  });
  // the jobs SLURM is asked about: a sweep cell still waited on, a hand-submitted job not ended
  const live = views.filter((v) => v.jobId && (v.c ? v.c.status === 'running' : true)).map((v) => v.jobId!);
  // a cell with no job id recorded (submitted by hand without launch-all.sh): its job by name and script
  const unknown = views.filter((v) => !v.c && !v.jobId && sbatchJobs[v.id]);
  const out: string[] = [];
  let rows = new Map<string, SqueueRow & { name?: string; command?: string }>();
  let slurmOk = true;
  const note = (why: string) => {
    slurmOk = false;
    out.push(`(squeue / scontrol not answering: ${why}; states below are as last recorded)`);
  };
  if (live.length > 0) {
    const r = await squeueJobs(['-j', [...new Set(live)].join(',')], client);
    if ('error' in r) note(r.error);
    else rows = r.rows;
  }
  if (slurmOk && unknown.length > 0) {
    const names = [...new Set(unknown.map((v) => sbatchJobs[v.id]!.jobName))];
    const r = await squeueJobs(['-n', names.join(',')], client);
    if ('error' in r) note(r.error);
    else
      for (const v of unknown) {
        const job = [...r.rows.values()].filter((x) => x.command === sbatchJobs[v.id]!.script).at(-1);
        if (job) {
          v.jobId = job.id;
          rows.set(job.id, job);
        }
      }
  }
  const tally: Record<string, number> = {};
  for (const v of views) {
    const jobText = v.jobId ? ` job ${v.jobId}` : '';
    const c = v.c;
    let state: string;
    let detail = '';
    if (c?.status === 'complete') {
      state = 'done';
      detail = `${jobText}${v.attempt?.nodes ? ` on ${v.attempt.nodes}` : ''}`;
    } else if (c?.status === 'failed') {
      state = 'failed';
      const f = c.failure as { message?: string } | undefined;
      detail = `${jobText}: ${(f?.message ?? 'see its cell.json').split('\n')[0]}`;
    } else if (c?.status === 'interrupted') {
      state = 'interrupted';
      detail = jobText;
    } else if (!v.jobId) {
      state = c ? 'running' : 'planned';
      if (!c && sbatchJobs[v.id]) detail = ' (never submitted)';
    } else {
      // a job in flight, or one that ended: what the job recorded, else what SLURM says now
      let st: { state: string; nodes?: string; reason?: string; exitCode?: number } | undefined;
      const row = rows.get(v.jobId);
      if (row && !ENDED.has(row.state)) st = row;
      else if (v.ev?.exitCode !== undefined && v.ev.id === v.jobId && !c)
        // the job's own end record (its exit code); SLURM's word for the state while it remembers
        st = {
          state: row?.state ?? (v.ev.exitCode === 0 ? 'COMPLETED' : 'FAILED'),
          exitCode: v.ev.exitCode,
          ...(row?.nodes ? { nodes: row.nodes } : {}),
        };
      else if (slurmOk) {
        try {
          const j = await jobStatus(v.jobId, client);
          st = {
            ...j,
            state: j.state === 'UNKNOWN' && row ? row.state : j.state,
            ...(row?.nodes ? { nodes: row.nodes } : {}),
          };
        } catch (e) {
          note((e as Error).message.split('\n')[0]!);
        }
      }
      st ??= {
        state: v.attempt?.state ?? 'UNKNOWN',
        ...(v.attempt?.nodes ? { nodes: v.attempt.nodes } : {}),
      };
      const nodes = st.nodes ?? v.attempt?.nodes ?? v.ev?.nodes;
      const log = v.attempt?.log ?? v.ev?.log;
      if (PENDING_STATES.has(st.state)) {
        state = 'submitted';
        detail = `${jobText}${st.reason ? ` (pending: ${st.reason})` : ' (pending)'}`;
      } else if (st.state === 'RUNNING' || st.state === 'COMPLETING') {
        state = 'running';
        detail = `${jobText}${nodes ? ` on ${nodes}` : ''}`;
      } else if (c) {
        state = 'ended';
        detail = `${jobText} ended ${st.state}; its results were not read (the sweep was stopped? resume it)`;
      } else {
        const results = existsSync(join(v.dir, 'bench', 'summary.json'));
        if (st.state === 'COMPLETED' && (st.exitCode ?? 0) === 0 && results) {
          state = 'done';
          detail = `${jobText}${nodes ? ` on ${nodes}` : ''}`;
        } else {
          state = 'failed';
          const why =
            st.state === 'UNKNOWN'
              ? v.ev?.started
                ? 'SLURM no longer knows the job and it recorded no end (killed past its time limit?)'
                : 'SLURM no longer knows the job and it never started'
              : `ended ${st.state}${st.exitCode !== undefined ? ` (exit code ${st.exitCode})` : ''}`;
          const busy =
            st.exitCode === BUSY_NODE_EXIT && existsSync(join(v.dir, 'busy-nodes.txt'))
              ? `; node(s) with GPU memory in use: ${readFileSync(join(v.dir, 'busy-nodes.txt'), 'utf8').trim().split('\n').join(', ')} (exclude them and resubmit)`
              : '';
          const none =
            st.state === 'COMPLETED' && !results ? `; no ${join(v.dir, 'bench', 'summary.json')}` : '';
          detail = `${jobText}: ${why}${busy}${none}${log ? `; log ${log}` : ''}`;
        }
      }
    }
    tally[state] = (tally[state] ?? 0) + 1;
    out.push(`${v.id}\t${state}${detail}`);
  }
  out.push(
    `${ids.length} cell(s): ${Object.entries(tally)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}`,
  );
  if (run.kind === 'sbatch' && ids.length > 0 && (tally.done ?? 0) + (tally.failed ?? 0) === ids.length) {
    const done = views.filter((v) => existsSync(join(v.dir, 'bench', 'summary.json')));
    if (done.length > 0)
      out.push(
        `every job ended; aggregate the results: ${shellCommand(['servelab', 'sweep', 'status', runDir, '--aggregate'])}`,
      );
  }
  return out;
}

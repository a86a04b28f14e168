/**
 * SlurmPoller under a REAL SLURM (scripts/slurm-up.sh): several plain jobs watched at once with
 * ONE squeue per poll (every call asks about every job still watched), each waiter resolved as
 * its own job ends with its state and exit code; an abort cancels every job with one scancel
 * and nothing is left in squeue. The parsing and the ETA of the sweep's progress line, pure.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type ExecFileFn, execFileNode } from '../preflight/gpu.js';
import { submitJob } from './slurm-jobs.js';
import { parseSqueueRows, SlurmPoller } from './slurm-poller.js';
import { slurmEtaS, slurmProgressLine } from './slurm-progress.js';
import { slurmForTests, slurmScratch } from './testing/slurm-cluster.js';

const up = slurmForTests('the real-SLURM poller tests');
const { root } = slurmScratch('servelab-slurm-poller-');

/** execFileNode, recording every call's file and argv */
function recording(): { exec: ExecFileFn; calls: { file: string; args: string[] }[] } {
  const calls: { file: string; args: string[] }[] = [];
  return {
    calls,
    exec: (file, args, o) => {
      calls.push({ file, args: [...args] });
      return execFileNode(file, args, o);
    },
  };
}

/** A job script that writes its start and end times (date +%s.%N) to DIR/NAME.times, sleeps, exits CODE. */
function script(name: string, sleepS: number, code: number): { path: string; times: string; out: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const times = join(dir, `${name}.times`);
  const path = join(dir, `${name}.sbatch`);
  writeFileSync(
    path,
    `#!/bin/bash\n#SBATCH --job-name=poller-${name}\n#SBATCH --cpus-per-task=1\ndate +%s.%N > ${times}\nsleep ${sleepS}\ndate +%s.%N >> ${times}\necho "job ${name} done"\nexit ${code}\n`,
  );
  chmodSync(path, 0o755);
  return { path, times, out: join(dir, `${name}-%j.out`) };
}

/** Submits the scripts; a failed assertion still leaves none of them queued (scancel after the test). */
async function submitAll(jobs: { path: string; out: string }[]): Promise<string[]> {
  const ids: string[] = [];
  for (const j of jobs) ids.push(await submitJob({ script: j.path, output: j.out, cwd: root }));
  onTestFinished(() => {
    try {
      execFileSync('scancel', ids, { stdio: 'ignore' });
    } catch {
      // the jobs ended already
    }
  });
  return ids;
}

const inQueue = (ids: string[]) =>
  execFileSync('squeue', ['-h', '-j', ids.join(','), '-t', 'PD,R,CG,CF,S', '-o', '%i %T'], {
    encoding: 'utf8',
  }).trim();

describe('squeue rows and the queue progress line', () => {
  it('parses squeue -o %i|%T|%r|%N lines: None and (null) are absent', () => {
    const rows = parseSqueueRows('12|PENDING|Priority|\n13|RUNNING|None|sl2\n14|COMPLETED|None|sl[1-2]\n\n');
    expect([...rows.keys()]).toEqual(['12', '13', '14']);
    expect(rows.get('12')).toEqual({ id: '12', state: 'PENDING', reason: 'Priority' });
    expect(rows.get('13')).toEqual({ id: '13', state: 'RUNNING', nodes: 'sl2' });
    expect(rows.get('14')?.state).toBe('COMPLETED');
  });

  it('the ETA counts the jobs running side by side (maxJobs at a time), ? before a cell completed', () => {
    const base = {
      total: 10,
      earlier: 0,
      complete: 2,
      failed: 0,
      running: 4,
      pending: 0,
      toSubmit: 4,
      maxJobs: 4,
      finishedCellsS: [100, 100],
      inFlightS: [50, 50, 50, 50],
    };
    // 4 in the queue with 50 s left each, then 4 more of 100 s, 4 at a time: 50 + 100
    expect(slurmEtaS(base)).toBe(150);
    // one at a time: 4 x 50 + 4 x 100
    expect(slurmEtaS({ ...base, maxJobs: 1 })).toBe(600);
    // never less than what the cell in the queue still needs
    expect(slurmEtaS({ ...base, toSubmit: 0, inFlightS: [10] })).toBe(90);
    expect(slurmEtaS({ ...base, finishedCellsS: [] })).toBeUndefined();
    expect(slurmProgressLine({ ...base, earlier: 1, failed: 1, running: 3, pending: 1 })).toBe(
      '[slurm] cells ended 4/10 (2 complete, 1 failed, 1 earlier) | jobs 3 running, 1 pending (max 4) | 4 to submit | ETA 2m30s',
    );
  });
});

describe.skipIf(!up.ok)('SlurmPoller under a real SLURM', () => {
  it('three jobs at once: one squeue per poll for all of them, each resolved with its own end', async () => {
    const jobs = [script('a', 4, 0), script('b', 4, 3), script('c', 4, 0)];
    const ids = await submitAll(jobs);
    const rec = recording();
    const poller = new SlurmPoller({ pollMs: 300, exec: rec.exec });
    const states: Record<string, string[]> = {};
    const results = await Promise.all(
      ids.map((id, i) =>
        poller.wait(id, {
          logPath: jobs[i]!.out.replace('%j', id),
          timeoutMs: 300_000,
          onState: (s) => {
            states[id] = [...(states[id] ?? []), s.state];
          },
        }),
      ),
    );
    expect(results.map((r) => r.state)).toEqual(['COMPLETED', 'FAILED', 'COMPLETED']);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[1]!.exitCode).toBe(3);
    expect(results[1]!.logTail).toContain('job b done');
    for (const id of ids) expect(states[id]?.at(-1)).toMatch(/^(COMPLETED|FAILED)$/);
    // one squeue per poll, each asking about every job still watched (never one call per job)
    const squeues = rec.calls.filter((c) => c.file === 'squeue');
    expect(squeues.length).toBe(poller.squeueCalls);
    expect(squeues.length).toBeGreaterThan(1);
    const first = squeues[0]!.args;
    expect(first[first.indexOf('-j') + 1]).toBe(ids.join(','));
    expect(poller.maxBatch).toBe(3);
    // each call asks about the jobs still watched: 3, then fewer as they end
    const sizes = squeues.map((c) => c.args[c.args.indexOf('-j') + 1]!.split(',').length);
    expect(sizes.every((n, i) => i === 0 || n <= sizes[i - 1]!)).toBe(true);
    // scontrol only for the ends (exit codes), not per job per poll
    expect(rec.calls.filter((c) => c.file === 'scontrol').length).toBeLessThanOrEqual(3);
    // the jobs ran side by side (the local cluster has room for three 1-CPU jobs)
    const spans = jobs.map((j) => readFileSync(j.times, 'utf8').trim().split('\n').map(Number));
    const latestStart = Math.max(...spans.map((s) => s[0]!));
    const earliestEnd = Math.min(...spans.map((s) => s[1]!));
    expect(latestStart).toBeLessThan(earliestEnd);
  }, 120_000);

  it('an abort cancels every job watched with one scancel; nothing is left in squeue', async () => {
    const jobs = [script('x', 600, 0), script('y', 600, 0), script('z', 600, 0)];
    const ids = await submitAll(jobs);
    const rec = recording();
    const ac = new AbortController();
    const poller = new SlurmPoller({ pollMs: 300, exec: rec.exec, signal: ac.signal });
    const seen = new Set<string>();
    const all = Promise.all(ids.map((id) => poller.wait(id, { onState: () => seen.add(id) })));
    // every job queued or running, then Ctrl-C
    while (seen.size < 3) await new Promise((r) => setTimeout(r, 100));
    expect(inQueue(ids).split('\n')).toHaveLength(3);
    ac.abort();
    const results = await all;
    expect(results.map((r) => r.state)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
    expect(results.every((r) => r.cancelled && !r.ok)).toBe(true);
    expect(inQueue(ids)).toBe('');
    const scancels = rec.calls.filter((c) => c.file === 'scancel');
    expect(scancels).toHaveLength(1);
    expect(scancels[0]!.args).toEqual(ids);
  }, 120_000);

  it('a job past its timeout is cancelled alone; the job beside it completes', async () => {
    const jobs = [script('late', 600, 0), script('quick', 3, 0)];
    const ids = await submitAll(jobs);
    const rec = recording();
    const poller = new SlurmPoller({ pollMs: 300, exec: rec.exec });
    const [late, quick] = await Promise.all([
      poller.wait(ids[0]!, { timeoutMs: 1500, logPath: jobs[0]!.out.replace('%j', ids[0]!) }),
      poller.wait(ids[1]!, { timeoutMs: 300_000 }),
    ]);
    expect(late).toMatchObject({ state: 'CANCELLED', cancelled: true, ok: false });
    expect(quick).toMatchObject({ state: 'COMPLETED', ok: true });
    expect(quick.cancelled).toBeUndefined();
    expect(rec.calls.filter((c) => c.file === 'scancel').map((c) => c.args)).toEqual([[ids[0]]]);
    expect(inQueue(ids)).toBe('');
  }, 120_000);
});

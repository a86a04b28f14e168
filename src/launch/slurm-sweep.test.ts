/**
 * `servelab sweep` with `launcher: {kind: slurm}` under a REAL SLURM (scripts/slurm-up.sh: three
 * slurmd nodes on localhost), `engine: sim` jobs:
 * - 2 configs x 1 rate: every cell a job (servelab sim + servelab bench inside it), polled, its
 *   results read back into the run directory and aggregated into experiment_results.csv;
 * - Ctrl-C while a job runs: scancel, the cell interrupted, no job left in squeue;
 *   `servelab sweep status` says running (job id) before, interrupted after;
 * - a failing job: a failed cell whose failure carries the job's log tail (and sweep status says why);
 * - a node with GPU memory in use (a stand-in nvidia-smi): named, excluded, resubmitted, done;
 * - launcher.maxJobs: several cells' jobs in the queue at once (all submitted before the first
 *   ended, each on its own port), Ctrl-C with several jobs queued cancels every one of them,
 *   one failing job among several leaves the others complete (and resume reruns only it), a
 *   busy node found by one job is excluded from the later cells' first submissions.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { EXIT } from '../errors.js';
import { freePort } from '../testing/free-port.js';
import { parseScontrolLine } from './slurm-jobs.js';
import { readSlurmJob } from './slurm-launcher.js';
import { sweepStatusLines } from './slurm-status.js';
import { SERVELAB_BIN, slurmForTests, slurmScratch, untilHealthy } from './testing/slurm-cluster.js';

const up = slurmForTests('the real-SLURM sweep tests');
const { root, cacheRoot } = slurmScratch('servelab-slurm-sweep-');

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

interface SpecOpts {
  name: string;
  port: number;
  model?: string;
  numPrompts?: number;
  rate?: number;
  params?: string;
  launcherExtra?: string;
}

function writeSpec(o: SpecOpts): string {
  const dir = join(root, o.name);
  mkdirSync(dir, { recursive: true });
  const text = `
name: ${o.name}
servers:
  m:
    kind: vllm
    engine: sim
    model: ${o.model ?? MODEL}
    gpu: H100-SXM-80GB
    max_model_len: 4096
    tool_call_parser: false
    port: ${o.port}
    healthTimeoutS: 60
    cache_root: ${JSON.stringify(cacheRoot)}
launcher:
  kind: slurm
  pollS: 0.2
  servelab: ${JSON.stringify([process.execPath, SERVELAB_BIN])}
${o.launcherExtra ?? ''}
arms: [{name: a, servers: m}]
workload:
  requests: {dataset: random, num_prompts: ${o.numPrompts ?? 6}, input_len: 16, output_len: 4}
rates: [${o.rate ?? 50}]
${o.params ?? ''}
preflight: {smoke: false, waitS: 5}
outDir: ${JSON.stringify(join(dir, 'runs'))}
`;
  const p = join(dir, 'spec.yaml');
  writeFileSync(p, text);
  return p;
}

function sweep(args: string[], signal?: AbortSignal) {
  const c = captureIo({ env: { ...process.env }, ...(signal ? { signal } : {}) });
  return {
    c,
    done: runMain(['sweep', ...args], c.io).then((code) => ({
      code,
      out: c.out.join(''),
      err: c.err.join(''),
    })),
  };
}

function runDirOf(text: string): string {
  const m = /run directory: (.+)\n/.exec(text);
  if (!m) throw new Error(`no run directory in: ${text}`);
  return m[1]!;
}

const squeue = (name: string) =>
  execFileSync('squeue', ['-h', '-n', name, '-o', '%i %T'], { encoding: 'utf8' }).trim();

/** The jobs of `ids` still pending, running or completing. */
const queued = (ids: string[]) =>
  execFileSync('squeue', ['-h', '-j', ids.join(','), '-t', 'PD,R,CG,CF,S', '-o', '%i %T'], {
    encoding: 'utf8',
  }).trim();

const cellJson = (runDir: string, id: string) =>
  JSON.parse(readFileSync(join(runDir, id, 'cell.json'), 'utf8')) as {
    status: string;
    notes: string[];
    failure: { message: string };
  };

/** The cells of a run directory, in plan order (run.json). */
const cellsOf = (runDir: string): string[] =>
  JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')).cells as string[];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A stand-in nvidia-smi on PATH for W4's "idle node with occupied GPUs": the first node the
 * check runs on holds 20 GiB on GPU 1 (that node's name is written to `mark`).
 */
function busyNodeNvidiaSmi(tag: string): { bin: string; mark: string } {
  const bin = join(root, `${tag}-bin`);
  mkdirSync(bin, { recursive: true });
  const mark = join(root, `${tag}-node`);
  writeFileSync(
    join(bin, 'nvidia-smi'),
    [
      '#!/bin/bash',
      `mark=${JSON.stringify(mark)}`,
      '[ -s "$mark" ] || echo "$SLURMD_NODENAME" > "$mark"',
      'echo "index, memory.used [MiB]"',
      'if [ "$(cat "$mark")" = "$SLURMD_NODENAME" ]; then echo "0, 3 MiB"; echo "1, 20480 MiB"; else echo "0, 3 MiB"; echo "1, 5 MiB"; fi',
    ].join('\n'),
  );
  chmodSync(join(bin, 'nvidia-smi'), 0o755);
  return { bin, mark };
}

describe.skipIf(!up.ok)('servelab sweep with a slurm launcher, under a real SLURM', () => {
  it('2 configs x 1 rate: every cell a job, results read back, experiment_results.csv', async () => {
    const spec = writeSpec({
      name: 'two',
      port: await freePort(),
      params: 'sweep: {mode: grid, params: {max_num_seqs: [8, 16]}}',
    });
    const r = await sweep([spec]).done;
    expect(r.code, r.err).toBe(EXIT.ok);
    const runDir = runDirOf(r.out);
    expect(r.err).toMatch(/\[a\/cfg1\/rate50\/r1\] submitted job \d+/);
    const csv = readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    const head = csv[0]!.split(',');
    const col = head.indexOf('max_num_seqs');
    expect(col).toBeGreaterThanOrEqual(0);
    expect(
      csv
        .slice(1)
        .map((l) => l.split(',')[col])
        .sort(),
    ).toEqual(['16', '8']);
    for (const id of ['a/cfg1/rate50/r1', 'a/cfg2/rate50/r1']) {
      const cell = JSON.parse(readFileSync(join(runDir, id, 'cell.json'), 'utf8'));
      expect(cell.status).toBe('complete');
      expect(cell.requests.ok).toBe(6);
      const run = JSON.parse(readFileSync(join(runDir, id, 'run.json'), 'utf8'));
      expect(run.config).toMatchObject({ arm: 'a', request_rate: 50 });
      expect(readSlurmJob(join(runDir, id))?.attempts[0]?.state).toBe('COMPLETED');
    }
    const status = await sweepStatusLines(runDir);
    expect(status[0]).toMatch(/^a\/cfg1\/rate50\/r1\tdone job \d+ on sl\d$/);
    expect(status.at(-1)).toBe('2 cell(s): 2 done');
    // the CLI prints the same lines
    const cli = captureIo({ env: { ...process.env } });
    expect(await runMain(['sweep', 'status', runDir], cli.io)).toBe(EXIT.ok);
    expect(cli.out.join('')).toBe(`${status.join('\n')}\n`);
  }, 240_000);

  it('Ctrl-C while the job runs: scancel, the cell interrupted, nothing left in squeue', async () => {
    const port = await freePort();
    // a benchmark that would run for many minutes
    const spec = writeSpec({ name: 'cancel', port, numPrompts: 1000, rate: 0.5 });
    const ac = new AbortController();
    const s = sweep([spec], ac.signal);
    await untilHealthy(port);
    const runs = join(root, 'cancel', 'runs');
    const runDir = join(runs, readdirSync(runs)[0]!);
    const live = await sweepStatusLines(runDir);
    expect(live[0]).toMatch(/^a\/rate0\.5\/r1\trunning job \d+ on sl\d$/);
    const jobName = readSlurmJob(join(runDir, 'a/rate0.5/r1'))!.jobName;
    ac.abort();
    const r = await s.done;
    expect(r.code, r.err).toBe(EXIT.interrupted);
    expect(squeue(jobName)).toBe('');
    const cell = JSON.parse(readFileSync(join(runDir, 'a/rate0.5/r1', 'cell.json'), 'utf8'));
    expect(cell.status).toBe('interrupted');
    expect(cell.notes.join('\n')).toMatch(/job \d+ cancelled \(scancel\)/);
    expect(
      await fetch(`http://127.0.0.1:${port}/health`).then(
        () => 'up',
        () => 'gone',
      ),
    ).toBe('gone');
    expect((await sweepStatusLines(runDir))[0]).toMatch(/\tinterrupted job \d+$/);
  });

  it("a failing job is a failed cell with the job's log tail; sweep status says why", async () => {
    const spec = writeSpec({ name: 'fail', port: await freePort(), model: 'no-such/model-xyz' });
    const r = await sweep([spec]).done;
    expect(r.code).not.toBe(EXIT.ok);
    const runDir = runDirOf(r.out);
    const cell = JSON.parse(readFileSync(join(runDir, 'a/rate50/r1', 'cell.json'), 'utf8'));
    expect(cell.status).toBe('failed');
    expect(cell.failure.message).toMatch(/^job \d+ ended FAILED \(exit code 1\)/);
    expect(cell.failure.message).toMatch(/exited early/);
    expect(cell.failure.message).toMatch(/no-such\/model-xyz/);
    const status = await sweepStatusLines(runDir);
    expect(status[0]).toMatch(/^a\/rate50\/r1\tfailed job \d+: job \d+ ended FAILED \(exit code 1\)/);
  });

  it('a node with GPU memory in use is named and excluded; the cell is resubmitted and completes', async () => {
    const { bin, mark } = busyNodeNvidiaSmi('busy');
    const spec = writeSpec({
      name: 'busy',
      port: await freePort(),
      launcherExtra: `  env: {PATH: ${JSON.stringify(`${bin}:${process.env.PATH}`)}}`,
    });
    const r = await sweep([spec]).done;
    expect(r.code, r.err).toBe(EXIT.ok);
    const runDir = runDirOf(r.out);
    const busyNode = readFileSync(mark, 'utf8').trim();
    const dir = join(runDir, 'a/rate50/r1');
    const job = readSlurmJob(dir)!;
    expect(job.attempts).toHaveLength(2);
    expect(job.attempts[0]).toMatchObject({ exitCode: 75, busyNodes: [busyNode] });
    expect(job.attempts[1]!.exclude).toEqual([busyNode]);
    expect(job.attempts[1]!.nodes).not.toBe(busyNode);
    expect(readFileSync(job.attempts[1]!.script, 'utf8')).toContain(`#SBATCH --exclude=${busyNode}\n`);
    const cell = JSON.parse(readFileSync(join(dir, 'cell.json'), 'utf8'));
    expect(cell.status).toBe('complete');
    expect(cell.notes.join('\n')).toContain(`node(s) ${busyNode} have GPU memory in use`);
    expect(existsSync(join(runDir, 'experiment_results.csv'))).toBe(true);
  });

  it("maxJobs 3: three cells' jobs in the queue at once, each on its own port, all complete", async () => {
    const port = await freePort();
    const spec = writeSpec({
      name: 'parallel',
      port,
      launcherExtra: '  maxJobs: 3',
      params: 'sweep: {mode: grid, params: {max_num_seqs: [8, 16, 32]}}',
    });
    const r = await sweep([spec]).done;
    expect(r.code, r.err).toBe(EXIT.ok);
    const runDir = runDirOf(r.out);
    const ids = cellsOf(runDir);
    expect(ids).toHaveLength(3);
    const attempts = ids.map((id) => readSlurmJob(join(runDir, id))!.attempts);
    for (const a of attempts) expect(a).toHaveLength(1);
    // every job was submitted before the first one ended: all three in the queue together
    const lastSubmit = Math.max(...attempts.map((a) => Date.parse(a[0]!.submittedAt)));
    const firstEnd = Math.min(...attempts.map((a) => Date.parse(a[0]!.endedAt!)));
    expect(lastSubmit).toBeLessThan(firstEnd);
    // and SLURM ran them side by side (the local cluster has room): start/end times overlap
    const span = (id: string) => {
      const f = parseScontrolLine(
        execFileSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' }).split('\n')[0]!,
      );
      return [Date.parse(f.StartTime!), Date.parse(f.EndTime!)] as const;
    };
    const spans = attempts.map((a) => span(a[0]!.jobId));
    expect(Math.max(...spans.map((x) => x[0]))).toBeLessThanOrEqual(Math.min(...spans.map((x) => x[1])));
    // a port per slot: two jobs on one node never collide
    expect(new Set(attempts.map((a) => a[0]!.port)).size).toBe(3);
    for (const id of ids) expect(cellJson(runDir, id).status).toBe('complete');
    expect(readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
    // the queue's progress line: several jobs at once, then the end
    expect(r.err).toMatch(/\[slurm\] cells ended 0\/3 .*\| jobs \d running, \d pending \(max 3\)/);
    expect(r.err).toMatch(
      /\[slurm\] cells ended 3\/3 \(3 complete, 0 failed\) \| jobs 0 running, 0 pending \(max 3\) \| 0 to submit \| ETA 0s/,
    );
    expect(r.err).not.toMatch(/cells ended 0\/3 .*jobs 0 running, [01] pending \(max 3\) \| 0 to submit/);
  }, 240_000);

  it('Ctrl-C with several jobs in the queue: every one cancelled (scancel), none left, the rest not submitted', async () => {
    const port = await freePort();
    // benchmarks that would run for many minutes; 4 cells, 3 in the queue at once
    const spec = writeSpec({
      name: 'cancel-many',
      port,
      numPrompts: 1000,
      rate: 0.5,
      launcherExtra: '  maxJobs: 3',
      params: 'sweep: {mode: grid, params: {max_num_seqs: [8, 16, 32, 64]}}',
    });
    const ac = new AbortController();
    const s = sweep([spec], ac.signal);
    // a failed assertion below still cancels the sweep's jobs
    onTestFinished(async () => {
      ac.abort();
      await s.done;
    });
    const runs = join(root, 'cancel-many', 'runs');
    let runDir = '';
    let jobIds: string[] = [];
    // until three cells have submitted their jobs, and SLURM lists all three
    for (let i = 0; i < 600; i++) {
      if (existsSync(runs) && readdirSync(runs).length > 0) {
        runDir = join(runs, readdirSync(runs)[0]!);
        if (existsSync(join(runDir, 'run.json')))
          jobIds = cellsOf(runDir).flatMap(
            (id) => readSlurmJob(join(runDir, id))?.attempts.map((a) => a.jobId) ?? [],
          );
      }
      if (jobIds.length === 3 && queued(jobIds).split('\n').length === 3) break;
      await sleep(200);
    }
    expect(jobIds).toHaveLength(3);
    await untilHealthy(port);
    ac.abort();
    const r = await s.done;
    expect(r.code, r.err).toBe(EXIT.interrupted);
    expect(queued(jobIds)).toBe('');
    const ids = cellsOf(runDir);
    for (const id of ids.slice(0, 3)) {
      const cell = cellJson(runDir, id);
      expect(cell.status, id).toBe('interrupted');
      expect(cell.notes.join('\n')).toMatch(/job \d+ cancelled \(scancel\)/);
    }
    // the fourth cell was never submitted
    expect(readSlurmJob(join(runDir, ids[3]!))).toBeNull();
    const status = await sweepStatusLines(runDir);
    expect(status.at(-1)).toBe('4 cell(s): 3 interrupted, 1 planned');
  }, 240_000);

  it('one failing job among several: a failed cell, the others complete; resume reruns only the failed one', async () => {
    // gpu_memory_utilization 0.05: the model does not fit, that job's server exits at once
    const spec = writeSpec({
      name: 'one-fails',
      port: await freePort(),
      launcherExtra: '  maxJobs: 3',
      params: 'sweep: {mode: grid, params: {gpu_memory_utilization: [0.85, 0.05, 0.9]}}',
    });
    const r = await sweep([spec]).done;
    expect(r.code).toBe(EXIT.failed);
    const runDir = runDirOf(r.out);
    const [c1, c2, c3] = cellsOf(runDir) as [string, string, string];
    expect(cellJson(runDir, c1).status).toBe('complete');
    expect(cellJson(runDir, c3).status).toBe('complete');
    const failed = cellJson(runDir, c2);
    expect(failed.status).toBe('failed');
    expect(failed.failure.message).toMatch(/^job \d+ ended FAILED \(exit code 1\)/);
    expect(failed.failure.message).toMatch(/does not fit/);
    expect(r.err).toContain(`1 cell(s) failed: ${c2}`);
    // the aggregate has the two that measured
    expect(readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    const before = readSlurmJob(join(runDir, c1))!.attempts[0]!.jobId;
    const again = await sweep([spec, '--resume', runDir]).done;
    expect(again.code).toBe(EXIT.failed);
    // the complete cells were skipped: not resubmitted
    expect(readSlurmJob(join(runDir, c1))!.attempts.map((a) => a.jobId)).toEqual([before]);
    expect(again.err).not.toContain(`[${c1}] submitted job`);
    expect(again.err).toMatch(new RegExp(`\\[${c2.replace(/\//g, '\\/')}\\] submitted job \\d+`));
    expect(again.err).toMatch(/\[slurm\] cells ended 3\/3 \(0 complete, 1 failed, 2 earlier\)/);
  });

  it("maxJobs 2: a node one job found busy is excluded from the later cells' submissions", async () => {
    const { bin, mark } = busyNodeNvidiaSmi('busy-2');
    const spec = writeSpec({
      name: 'busy-parallel',
      port: await freePort(),
      launcherExtra: `  maxJobs: 2\n  env: {PATH: ${JSON.stringify(`${bin}:${process.env.PATH}`)}}`,
      params: 'sweep: {mode: grid, params: {max_num_seqs: [8, 16, 32]}}',
    });
    const r = await sweep([spec]).done;
    expect(r.code, r.err).toBe(EXIT.ok);
    const runDir = runDirOf(r.out);
    const busyNode = readFileSync(mark, 'utf8').trim();
    const ids = cellsOf(runDir);
    const jobs = ids.map((id) => readSlurmJob(join(runDir, id))!);
    // the third cell was submitted once a cell completed: the busy node was known by then
    expect(jobs[2]!.attempts[0]!.exclude).toEqual([busyNode]);
    for (const j of jobs) {
      expect(j.attempts.at(-1)!.state).toBe('COMPLETED');
      expect(j.attempts.at(-1)!.nodes).not.toBe(busyNode);
    }
    // the job(s) that found it busy were resubmitted without it
    const busyAttempts = jobs.flatMap((j) => j.attempts.filter((a) => a.busyNodes?.length));
    expect(busyAttempts.length).toBeGreaterThan(0);
    for (const a of busyAttempts) expect(a).toMatchObject({ exitCode: 75, busyNodes: [busyNode] });
    for (const id of ids) expect(cellJson(runDir, id).status).toBe('complete');
  }, 240_000);
});

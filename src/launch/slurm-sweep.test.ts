/**
 * `servelab sweep` with `launcher: {kind: slurm}` under a REAL SLURM (scripts/slurm-up.sh: three
 * slurmd nodes on localhost), `engine: sim` jobs:
 * - 2 configs x 1 rate: every cell a job (servelab sim + servelab bench inside it), polled, its
 *   results read back into the run directory and aggregated into experiment_results.csv;
 * - Ctrl-C while a job runs: scancel, the cell interrupted, no job left in squeue;
 *   `servelab sweep status` says running (job id) before, interrupted after;
 * - a failing job: a failed cell whose failure carries the job's log tail (and sweep status says why);
 * - a node with GPU memory in use (a stand-in nvidia-smi): named, excluded, resubmitted, done.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { EXIT } from '../errors.js';
import { freePort } from '../testing/free-port.js';
import { readSlurmJob, sweepStatusLines } from './slurm-launcher.js';
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
  });

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
    const bin = join(root, 'busy-bin');
    mkdirSync(bin, { recursive: true });
    // W4's "idle node with occupied GPUs": the first node the check runs on holds 20 GiB on GPU 1
    const mark = join(root, 'busy-node');
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
});

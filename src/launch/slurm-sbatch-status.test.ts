/**
 * Scripts rendered by `servelab sbatch --out DIR --run-dir RUN` and submitted BY HAND under a
 * REAL SLURM (scripts/slurm-up.sh), `engine: sim` jobs; `servelab sweep status RUN` says where
 * every cell is:
 * - `bash DIR/launch-all.sh` (jobs held with `--hold`, so pending is certain): planned before,
 *   then submitted with the ids launch-all printed (pending: JobHeldUser); released: done,
 *   running (job id, nodes), failed with the job's exit code and its log; then, every job ended,
 *   `sweep status RUN --aggregate` reads the results back and writes experiment_results.csv with
 *   the swept flag's column. The out and run directories hold shell metacharacters: nothing is
 *   injected, every path arrives whole in the records.
 * - `sbatch DIR/<job>.sbatch` without launch-all: a held job is found by its name and script,
 *   a running one by the id it recorded itself, a cell never submitted is planned.
 * Jobs are named after this file's cells and scripts; every job is cancelled after the file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { EXIT } from '../errors.js';
import { execFileNode } from '../preflight/gpu.js';
import { freePort } from '../testing/free-port.js';
import { SLURM_EVENTS_FILE } from './slurm.js';
import { readSlurmEvents, sweepStatusLines } from './slurm-status.js';
import { SERVELAB_BIN, slurmForTests, slurmScratch } from './testing/slurm-cluster.js';

const up = slurmForTests('the real-SLURM hand-submission tests');
const { root, cacheRoot } = slurmScratch('servelab-slurm-hand-');

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const PWN = join(root, 'PWNED');
/** a directory name no shell may run: command substitutions, quotes, separators */
const NASTY = `d $(touch ${PWN}1) \`touch ${PWN}2\` 'q' "d" ;touch ${PWN}3;&|`;

const ours: string[] = [];
afterAll(() => {
  if (ours.length > 0) {
    try {
      execFileSync('scancel', ours, { stdio: 'ignore' });
    } catch {
      // ended already
    }
  }
});

function writeSpec(name: string, o: { port: number; rates: string; params: string; extra?: string }): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const p = join(dir, 'spec.yaml');
  writeFileSync(
    p,
    `
name: ${name}
servers:
  m:
    kind: vllm
    engine: sim
    model: ${MODEL}
    gpu: H100-SXM-80GB
    max_model_len: 4096
    tool_call_parser: false
    port: ${o.port}
    healthTimeoutS: 60
    cache_root: ${JSON.stringify(cacheRoot)}
launcher:
  kind: slurm
  servelab: ${JSON.stringify([process.execPath, SERVELAB_BIN])}
${o.extra ?? ''}
arms: [{name: a, servers: m}]
workload:
  requests: {dataset: random, num_prompts: 6, input_len: 16, output_len: 4}
rates: [${o.rates}]
sweep: {mode: grid, params: ${o.params}}
preflight: {smoke: false, waitS: 5}
`,
  );
  return p;
}

async function cli(args: string[]) {
  const c = captureIo({ env: { ...process.env } });
  const code = await runMain(args, c.io);
  return { code, out: c.out.join(''), err: c.err.join('') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls sweep status until `ok` holds of its lines (generous: the cluster may be shared). */
async function statusUntil(runDir: string, ok: (byCell: Map<string, string>) => boolean, what: string) {
  let lines: string[] = [];
  for (let i = 0; i < 900; i++) {
    lines = await sweepStatusLines(runDir);
    const byCell = new Map(
      lines.filter((l) => l.includes('\t')).map((l) => [l.split('\t')[0]!, l.split('\t')[1]!] as const),
    );
    if (ok(byCell)) return { lines, byCell };
    await sleep(200);
  }
  throw new Error(`sweep status never showed ${what}:\n${lines.join('\n')}`);
}

describe.skipIf(!up.ok)('servelab sbatch scripts submitted by hand: servelab sweep status', () => {
  it('launch-all.sh: planned, pending (with the ids it printed), done, running, failed with its exit code; then --aggregate', async () => {
    // gpu_memory_utilization 0.05: the model does not fit, that cell's server exits at once;
    // rate 0.2 with 6 prompts: a job that runs for half a minute
    const spec = writeSpec('hand', {
      port: await freePort(),
      rates: '50, 0.2',
      params: '{gpu_memory_utilization: [0.85, 0.05]}',
      extra: '  sbatch: [--hold]',
    });
    const out = join(root, `out ${NASTY}`);
    const runDir = join(root, `run ${NASTY}`);
    const r = await cli(['sbatch', spec, '--out', out, '--run-dir', runDir]);
    expect(r.code, r.err).toBe(EXIT.ok);
    expect(r.err).toContain('servelab sweep status');
    const cells = ['a/cfg1/rate50/r1', 'a/cfg1/rate0.2/r1', 'a/cfg2/rate50/r1', 'a/cfg2/rate0.2/r1'];
    const before = await sweepStatusLines(runDir);
    expect(before).toEqual([...cells.map((c) => `${c}\tplanned (never submitted)`), '4 cell(s): 4 planned']);
    // submitted by hand, as W3's users did
    const launched = execFileSync('bash', [join(out, 'launch-all.sh')], { encoding: 'utf8', cwd: root });
    const ids = launched
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0]!);
    ours.push(...ids);
    expect(ids).toHaveLength(4);
    for (const id of ids) expect(id).toMatch(/^\d+$/);
    expect(readdirSync(root).filter((f) => f.startsWith('PWNED'))).toEqual([]);
    // the ids beside the scripts, and in each cell's events (paths whole, as JSON)
    const tsv = readFileSync(join(out, 'submitted.tsv'), 'utf8').trim().split('\n');
    expect(tsv.map((l) => l.split('\t')[0])).toEqual(ids);
    const ev = readSlurmEvents(join(runDir, cells[0]!));
    expect(ev).toMatchObject([{ event: 'submitted', jobId: ids[0] }]);
    expect(ev[0]!.script).toBe(join(out, 'servelab-a_cfg1_rate50_r1.sbatch'));
    expect(ev[0]!.log).toBe(join(runDir, cells[0]!, 'logs', 'servelab-a_cfg1_rate50_r1-%j.out'));
    // one squeue for the four jobs, no scontrol (squeue knows them all)
    const calls: string[] = [];
    const held = await sweepStatusLines(runDir, {
      exec: (file, args, o) => {
        calls.push(file);
        return execFileNode(file, args, o);
      },
    });
    expect(calls).toEqual(['squeue']);
    expect(held.slice(0, 4)).toEqual(
      cells.map((c, i) => `${c}\tsubmitted job ${ids[i]} (pending: JobHeldUser)`),
    );
    expect(held.at(-1)).toBe('4 cell(s): 4 submitted');
    execFileSync('scontrol', ['release', ids.join(',')]);
    const mid = await statusUntil(
      runDir,
      (m) =>
        m.get(cells[0]!)!.startsWith('done') &&
        m.get(cells[1]!)!.startsWith('running') &&
        m.get(cells[2]!)!.startsWith('failed') &&
        m.get(cells[3]!)!.startsWith('failed'),
      'done, running, failed, failed',
    );
    expect(mid.byCell.get(cells[0]!)).toMatch(new RegExp(`^done job ${ids[0]} on sl\\d$`));
    expect(mid.byCell.get(cells[1]!)).toMatch(new RegExp(`^running job ${ids[1]} on sl\\d$`));
    const failLog = join(runDir, cells[2]!, 'logs', `servelab-a_cfg2_rate50_r1-${ids[2]}.out`);
    expect(mid.byCell.get(cells[2]!)).toBe(
      `failed job ${ids[2]}: ended FAILED (exit code 1); log ${failLog}`,
    );
    expect(readFileSync(failLog, 'utf8')).toMatch(/does not fit/);
    // the failing job recorded its own start and end
    expect(readSlurmEvents(join(runDir, cells[2]!)).map((e) => [e.event, e.jobId, e.exitCode])).toEqual([
      ['submitted', ids[2], undefined],
      ['started', ids[2], undefined],
      ['ended', ids[2], 1],
    ]);
    // not every job ended: no aggregate hint yet
    expect(mid.lines.join('\n')).not.toMatch(/every job ended/);
    const last = await statusUntil(runDir, (m) => m.get(cells[1]!)!.startsWith('done'), 'the long job done');
    expect(last.lines.at(-2)).toBe('4 cell(s): 2 done, 2 failed');
    expect(last.lines.at(-1)).toMatch(
      /^every job ended; aggregate the results: servelab sweep status '.*' --aggregate$/,
    );
    // the CLI: the same lines, then the aggregate with the swept flag's column
    const agg = await cli(['sweep', 'status', runDir, '--aggregate']);
    expect(agg.code, agg.err).toBe(EXIT.ok);
    expect(agg.out.startsWith(`${last.lines.join('\n')}\n`)).toBe(true);
    const csv = readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    const head = csv[0]!.split(',');
    const col = head.indexOf('gpu_memory_utilization');
    expect(col).toBeGreaterThanOrEqual(0);
    expect(csv.slice(1).map((l) => l.split(',')[col])).toEqual(['0.85', '0.85']);
    expect(existsSync(join(runDir, 'report.html'))).toBe(true);
    expect(readdirSync(root).filter((f) => f.startsWith('PWNED'))).toEqual([]);
  }, 300_000);

  it('sbatch DIR/<job>.sbatch by hand: a held job found by name and script, a running one by its own record, the rest planned', async () => {
    const spec = writeSpec('byhand', {
      port: await freePort(),
      rates: '0.05',
      params: '{max_num_seqs: [8, 16, 32]}',
    });
    const out = join(root, 'byhand-out');
    const runDir = join(root, 'byhand-run');
    const r = await cli(['sbatch', spec, '--out', out, '--run-dir', runDir]);
    expect(r.code, r.err).toBe(EXIT.ok);
    const cells = ['a/cfg1/rate0.05/r1', 'a/cfg2/rate0.05/r1', 'a/cfg3/rate0.05/r1'];
    const script = (c: string) => join(out, `servelab-${c.replace(/\//g, '_')}.sbatch`);
    const sbatch = (args: string[]) => {
      const id = execFileSync('sbatch', ['--parsable', `--chdir=${root}`, ...args], { encoding: 'utf8' })
        .trim()
        .split(';')[0]!;
      ours.push(id);
      return id;
    };
    const heldId = sbatch(['--hold', script(cells[0]!)]);
    const runId = sbatch([script(cells[1]!)]);
    // nothing recorded the held job's id: only SLURM knows it
    expect(existsSync(join(runDir, cells[0]!, SLURM_EVENTS_FILE))).toBe(false);
    const s = await statusUntil(
      runDir,
      (m) =>
        m.get(cells[1]!)!.startsWith('running') &&
        readSlurmEvents(join(runDir, cells[1]!)).some((e) => e.event === 'started'),
      'the second job running (and its start recorded)',
    );
    expect(s.lines.slice(0, 3)).toEqual([
      `${cells[0]}\tsubmitted job ${heldId} (pending: JobHeldUser)`,
      expect.stringMatching(
        new RegExp(`^${cells[1]!.replace(/[./]/g, '\\$&')}\\trunning job ${runId} on sl\\d$`),
      ),
      `${cells[2]}\tplanned (never submitted)`,
    ]);
    // the running job's id came from the job itself
    expect(readSlurmEvents(join(runDir, cells[1]!))).toMatchObject([
      { event: 'started', jobId: runId, cell: cells[1], nodes: expect.stringMatching(/^sl\d$/) },
    ]);
    execFileSync('scancel', [heldId, runId]);
    // cancelled: the running job's EXIT trap records 143 (SIGTERM); SLURM says CANCELLED
    const after = await statusUntil(
      runDir,
      (m) => m.get(cells[1]!)!.startsWith('failed'),
      'the cancelled job failed',
    );
    expect(after.byCell.get(cells[1]!)).toMatch(new RegExp(`^failed job ${runId}: ended CANCELLED`));
  }, 300_000);
});

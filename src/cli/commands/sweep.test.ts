/**
 * `servelab sweep`: a server-flag sweep of a request-stream workload as one spec, run by the
 * one runner (plan.ts, cell.ts with the request-stream driver) and aggregated by the code of
 * `servelab aggregate`. Virtual time for the matrix (fast), and one real-time cell whose
 * `engine: sim` server is `servelab sim` (the built CLI) started by the command launcher.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../testing/free-port.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const BIN = resolve('bin/servelab.js');

function specFile(dir: string, body: string): string {
  const f = join(dir, 'sweep.yaml');
  writeFileSync(f, body);
  return f;
}

const VIRTUAL = (out: string) => `
name: mb
servers:
  llama:
    kind: vllm
    engine: sim
    model: meta-llama/Llama-3.1-8B-Instruct
    gpu: H100-SXM-80GB
    tool_call_parser: false
arms: [{name: sim, servers: llama}]
workload:
  requests: {dataset: random, num_prompts: 60, input_len: 512, output_len: 32}
rates: [50]
sweep:
  mode: grid
  params:
    max_num_batched_tokens: [2048, 8192]
    kv_cache_dtype: [auto, fp8]
outDir: ${out}
`;

function runDirOf(out: string[]): string {
  const line = out.join('').match(/run directory: (.+)\n/);
  if (!line?.[1]) throw new Error(`no run directory in ${out.join('')}`);
  return line[1];
}

describe('servelab sweep', () => {
  it('--dry-run prints every config with its flags, its argv, and every cell', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const f = specFile(
      dir,
      VIRTUAL(join(dir, 'runs')).replace(
        'engine: sim',
        `engine: sim\n    servelab_bin: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}]`,
      ),
    );
    const c = captureIo({ cwd: dir, env: { HOME: homedir(), USER: 'u', PATH: process.env.PATH ?? '' } });
    expect(await runMain(['sweep', f, '--dry-run'], c.io)).toBe(0);
    const text = c.out.join('');
    expect(text).toContain('plan: 4 cell(s) in real time, 4 server config(s) (fresh servers for every cell)');
    expect(text).toMatch(
      /servers\.llama cfg4 for arm sim \[phase=params max_num_batched_tokens=8192 kv_cache_dtype=fp8\]: command: llama-8000: .+ sim --model meta-llama\/Llama-3\.1-8B-Instruct --gpu H100-SXM-80GB .*--max-num-batched-tokens 8192 --kv-cache-dtype fp8/,
    );
    expect(text).toContain('cell 4 of 4: sim/cfg4/rate50/r1 (rate 50/s, seed 0)');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('runs the matrix in virtual time and writes experiment_results.csv (a column per swept flag), report.txt, viz_data.json, report.html; resume runs nothing again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const f = specFile(dir, VIRTUAL(join(dir, 'runs')));
    const c = captureIo({ cwd: dir, env: {} });
    const code = await runMain(['sweep', f, '--virtual', '--compare-param', 'max_num_batched_tokens'], c.io);
    expect(code, c.err.join('')).toBe(0);
    const runDir = runDirOf(c.out);
    const csv = readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n');
    const head = csv[0]!.split(',');
    for (const col of [
      'max_num_batched_tokens',
      'kv_cache_dtype',
      'request_rate',
      'preemptions',
      'kv_capacity_blocks',
      'pareto_optimal',
    ])
      expect(head).toContain(col);
    expect(csv).toHaveLength(1 + 4);
    const row = (i: number) => Object.fromEntries(head.map((h, k) => [h, csv[i]!.split(',')[k]]));
    const byCfg = Object.fromEntries([1, 2, 3, 4].map((i) => [row(i).run, row(i)]));
    // fp8 KV: twice the blocks of auto (bf16) at the same flags
    const auto = Number(byCfg['sim/cfg1/rate50/r1']?.kv_capacity_blocks);
    const fp8 = Number(byCfg['sim/cfg2/rate50/r1']?.kv_capacity_blocks);
    expect(byCfg['sim/cfg2/rate50/r1']?.kv_cache_dtype).toBe('fp8');
    expect(fp8 / auto).toBeGreaterThan(1.9);
    expect(fp8 / auto).toBeLessThan(2.1);
    const report = readFileSync(join(runDir, 'report.txt'), 'utf8');
    expect(report).toContain('Pareto-optimal runs (output_throughput_tok_s max, ttft_p95_ms min)');
    expect(report).toContain('max_num_batched_tokens against output_throughput_tok_s (max is better)');
    const viz = JSON.parse(readFileSync(join(runDir, 'viz_data.json'), 'utf8'));
    expect(viz.rows).toHaveLength(4);
    expect(viz.compareParam.groups.map((g: { value: string }) => g.value)).toEqual(['2048', '8192']);
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    expect(html).toContain('Pareto frontier');
    expect(html).toContain('max_num_batched_tokens vs output_throughput_tok_s');
    // the cell is a bench run dir and a cell: run.json (kind bench, config), requests, cell.json
    const cell = join(runDir, 'sim/cfg4/rate50/r1');
    expect(readdirSync(cell).sort()).toEqual(
      ['cell.json', 'kv_timeseries.csv', 'logs', 'requests.jsonl', 'run.json', 'summary.json'].sort(),
    );
    const meta = JSON.parse(readFileSync(join(cell, 'cell.json'), 'utf8'));
    expect(meta.status).toBe('complete');
    expect(meta.requests).toMatchObject({ measured: 60, ok: 60 });
    expect(meta.serverConfig.params).toEqual({
      phase: 'params',
      max_num_batched_tokens: 8192,
      kv_cache_dtype: 'fp8',
    });
    const run = JSON.parse(readFileSync(join(cell, 'run.json'), 'utf8'));
    expect(run).toMatchObject({ kind: 'bench', config: { max_num_batched_tokens: 8192, request_rate: 50 } });
    // resume: every cell is complete, nothing runs again; the aggregate is rewritten the same
    const again = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['sweep', f, '--virtual', '--resume', runDir], again.io)).toBe(0);
    expect(again.err.join('')).not.toContain('starting');
    expect(readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('Ctrl-C keeps the cells done (a partial aggregate), and --resume runs the rest; `run` takes the same spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const f = specFile(dir, VIRTUAL(join(dir, 'runs')));
    const ac = new AbortController();
    const c = captureIo({ cwd: dir, env: {}, signal: ac.signal });
    // stop while the second config's cell runs
    const io = {
      ...c.io,
      stderr: (t: string) => {
        c.err.push(t);
        if (t.includes('[sim/cfg2/rate50/r1] random')) ac.abort();
      },
    };
    expect(await runMain(['sweep', f, '--virtual'], io)).toBe(130);
    const runDir = runDirOf(c.out);
    expect(c.err.join('')).toContain(`continue with: servelab sweep ${f} --virtual --resume ${runDir}`);
    const partial = readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n');
    expect(partial.length).toBeGreaterThanOrEqual(2);
    expect(partial.length).toBeLessThan(5);
    // `servelab run --virtual --resume` is the same runner: the other cells run, the aggregate has all four
    const again = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['run', f, '--virtual', '--resume', runDir], again.io), again.err.join('')).toBe(0);
    expect(again.err.join('')).not.toContain('[sim/cfg1/rate50/r1] starting');
    expect(again.err.join('')).toContain('[sim/cfg4/rate50/r1] starting');
    expect(readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('DP replicas (a port each): requests go round-robin, preemptions and KV blocks are the sum over replicas', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const one = specFile(dir, VIRTUAL(join(dir, 'runs')).replace(/sweep:[\s\S]*outDir/, 'outDir'));
    const c1 = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['sweep', one, '--virtual'], c1.io), c1.err.join('')).toBe(0);
    const single = JSON.parse(readFileSync(join(runDirOf(c1.out), 'sim/rate50/r1/summary.json'), 'utf8'));
    const two = specFile(
      dir,
      VIRTUAL(join(dir, 'runs-dp'))
        .replace(/sweep:[\s\S]*outDir/, 'outDir')
        .replace('engine: sim', 'engine: sim\n    data_parallel_size: 2'),
    );
    const c2 = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['sweep', two, '--virtual'], c2.io), c2.err.join('')).toBe(0);
    const cell = join(runDirOf(c2.out), 'sim/rate50/r1');
    const eps = readFileSync(join(cell, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).endpoint);
    const counts = [...new Set(eps)].map((e) => eps.filter((x) => x === e).length);
    expect(counts).toEqual([30, 30]);
    const summary = JSON.parse(readFileSync(join(cell, 'summary.json'), 'utf8'));
    expect(summary.server.replicas).toHaveLength(2);
    expect(summary.server.numGpuBlocks).toBe(2 * single.server.numGpuBlocks);
  });

  it('concurrency levels of a request stream are closed loops (cells c<C>)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const f = specFile(
      dir,
      VIRTUAL(join(dir, 'runs'))
        .replace(/sweep:[\s\S]*outDir/, 'outDir')
        .replace('rates: [50]', 'concurrency: [4]'),
    );
    const c = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['sweep', f, '--virtual'], c.io), c.err.join('')).toBe(0);
    const summary = JSON.parse(readFileSync(join(runDirOf(c.out), 'sim/c4/r1/summary.json'), 'utf8'));
    expect(summary.arrivals).toBe('closed(c=4)');
    expect(summary.counts.ok).toBe(60);
  });

  it('a real-time cell: engine: sim is `servelab sim` with the vLLM flags, started by the command launcher, a log per port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const port = await freePort();
    const f = specFile(
      dir,
      VIRTUAL(join(dir, 'runs'))
        .replace(
          'engine: sim',
          `engine: sim\n    port: ${port}\n    healthTimeoutS: 60\n    servelab_bin: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}]`,
        )
        .replace('num_prompts: 60', 'num_prompts: 12')
        .replace(
          /sweep:[\s\S]*outDir/,
          'sweep: {params: {max_num_seqs: [8]}}\npreflight: {smoke: false, waitS: 5}\noutDir',
        ),
    );
    const c = captureIo({ cwd: dir, env: { HOME: homedir(), USER: 'u', PATH: process.env.PATH ?? '' } });
    const code = await runMain(['sweep', f], c.io);
    expect(code, c.err.join('')).toBe(0);
    const cell = join(runDirOf(c.out), 'sim/rate50/r1');
    const log = readFileSync(join(cell, 'logs', `llama-${port}.log`), 'utf8');
    expect(log).toContain("'max_num_seqs': '8'");
    const summary = JSON.parse(readFileSync(join(cell, 'summary.json'), 'utf8'));
    expect(summary.counts).toMatchObject({ measured: 12, ok: 12 });
    expect(summary.server.numGpuBlocks).toBeGreaterThan(0);
    expect(readFileSync(join(cell, 'requests.jsonl'), 'utf8').trim().split('\n')).toHaveLength(12);
  });
});

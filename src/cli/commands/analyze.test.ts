import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticBench, writeSyntheticRun } from '../../analysis/testing/synthetic-run.js';
import { EXIT } from '../../errors.js';
import { writeRunReport } from '../../report/write.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const io = (cwd: string) => captureIo({ cwd });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'servelab-cli-analysis-'));
  await writeSyntheticRun(join(dir, 'agent'), [
    { arm: 'baseline', concurrency: 4, rep: 1, tasks: 12, stepsPerTask: 3, kvPlateau: 0.9 },
    { arm: 'router', concurrency: 4, rep: 1, tasks: 12, stepsPerTask: 3, kvPlateau: 0.85, version: '0.10.1' },
  ]);
  for (const mnbt of [4096, 8192])
    await writeSyntheticBench(join(dir, `b${mnbt}`), {
      n: 20,
      ratePerSec: 4,
      config: { max_num_batched_tokens: mnbt },
      ttftBaseMs: 40_000 / mnbt,
      tpotMs: 5,
      seed: mnbt,
    });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('analysis commands', () => {
  it('analyze prints the windows and the counting rule, writes summary.json per cell', async () => {
    const c = io(dir);
    expect(await runMain(['analyze', 'agent', '--window', '5s..30s'], c.io)).toBe(EXIT.ok);
    const text = c.out.join('');
    expect(text).toMatch(/ENDS inside/);
    expect(text).toMatch(/orchestrator LLM calls only/);
    expect(text).toMatch(/active\s+KV > 0.7 on port 1900/);
    expect(text).toMatch(/fixed\s+\+5s\.\.\+30s/);
    const s = JSON.parse(await readFile(join(dir, 'agent/baseline/c4/r1/summary.json'), 'utf8'));
    expect(s.kind).toBe('agent-cell');
    expect(s.windows.map((w: { kind: string }) => w.kind)).toEqual(['active', 'client', 'fixed', 'makespan']);
  });

  it('analyze --json on a bench run, and bad flags are usage errors', async () => {
    const c = io(dir);
    expect(await runMain(['analyze', 'b4096', '--json', '--no-write'], c.io)).toBe(EXIT.ok);
    expect(JSON.parse(c.out.join('')).stages[0].requests).toBe(20);
    const d = io(dir);
    expect(await runMain(['analyze', 'agent', '--threshold', '70'], d.io)).toBe(EXIT.usage);
    expect(d.err.join('')).toMatch(/0-1 fraction/);
    const e = io(dir);
    expect(await runMain(['analyze', 'nope'], e.io)).toBe(EXIT.usage);
  });

  it('compare prints the confounds first and writes Markdown and CSV', async () => {
    const c = io(dir);
    expect(await runMain(['compare', 'agent', '--md', 'cmp.md', '--csv', 'cmp.csv'], c.io)).toBe(EXIT.ok);
    const text = c.out.join('');
    expect(text.indexOf('confound')).toBeLessThan(text.indexOf('active window'));
    expect(text).toMatch(/DIFFERENT server versions/);
    expect(text).toMatch(/one repetition/);
    const md = await readFile(join(dir, 'cmp.md'), 'utf8');
    expect(md).toMatch(
      /\| C \| baseline: ok tasks\/min \(steps\/s\) \| baseline: all ended \| router: ok tasks\/min/,
    );
    expect(md).toMatch(/## What was run/);
    expect(text).toMatch(/what was run: /);
    const csv = await readFile(join(dir, 'cmp.csv'), 'utf8');
    expect(csv.split('\n')[0]).toBe(
      'concurrency,window,metric,arm,n,mean,ci95_lo,ci95_hi,ratio_to_baseline,winner,welch_p_vs_baseline,values',
    );
  });

  it('aggregate writes experiment_results.csv, report.txt and viz_data.json', async () => {
    const c = io(dir);
    const code = await runMain(
      [
        'aggregate',
        'b4096',
        'b8192',
        '--out',
        'agg',
        '--compare-param',
        'max_num_batched_tokens',
        '--metric',
        'ttft_p95_ms',
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    const csv = await readFile(join(dir, 'agg/experiment_results.csv'), 'utf8');
    expect(csv.split('\n')[0]).toMatch(
      /^run,stage,partial,.*max_num_batched_tokens.*output_throughput_tok_s.*pareto_optimal,source$/,
    );
    expect(csv.trim().split('\n')).toHaveLength(3);
    const viz = JSON.parse(await readFile(join(dir, 'agg/viz_data.json'), 'utf8'));
    expect(viz.compareParam.best).toBe('8192'); // lower TTFT with the larger budget in this fixture
    expect(viz.pareto.runs.length).toBeGreaterThan(0);
    expect(await readFile(join(dir, 'agg/report.txt'), 'utf8')).toMatch(/Pareto-optimal runs/);
  });

  it('report writes one HTML file and, with --md-dir, Markdown + SVGs', async () => {
    const c = io(dir);
    expect(
      await runMain(['report', 'agent', 'b4096', 'b8192', '--out', 'r.html', '--md-dir', 'md'], c.io),
    ).toBe(EXIT.ok);
    expect((await stat(join(dir, 'r.html'))).size).toBeGreaterThan(10_000);
    expect(await readFile(join(dir, 'md/report.md'), 'utf8')).toMatch(/!\[.*\]\(kv-baseline-c4-r1\.svg\)/);
    expect((await stat(join(dir, 'md/pareto.svg'))).size).toBeGreaterThan(1000);
  });

  it('writeRunReport never throws: a missing dir gives errors, a run gives summaries + report', async () => {
    const bad = await writeRunReport(join(dir, 'does-not-exist'));
    expect(bad.reportPath).toBeNull();
    expect(bad.errors[0]).toMatch(/does not exist/);
    const ok = await writeRunReport(join(dir, 'agent'));
    expect(ok.errors).toEqual([]);
    expect(ok.summaryPaths).toHaveLength(2);
    expect(ok.reportPath).toBe(join(dir, 'agent/report.html'));
    expect((await stat(join(dir, 'agent/compare.md'))).size).toBeGreaterThan(100);
  });
});

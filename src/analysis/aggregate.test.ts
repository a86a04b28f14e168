import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AggregateRow,
  aggregateRows,
  compareParam,
  paretoFrontier,
  parseParetoSpec,
} from './aggregate.js';
import { analyzeBench, argvParams, benchStages, stageTargets } from './bench-latency.js';
import { loadRun } from './load.js';
import type { BenchRunInput } from './run-types.js';
import { request } from './testing/fixtures.js';
import { writeSyntheticBench } from './testing/synthetic-run.js';

const row = (run: string, tput: number, ttft: number, mnbt: number): AggregateRow => ({
  run,
  dir: run,
  stage: null,
  partial: false,
  params: { max_num_batched_tokens: mnbt },
  metrics: { output_throughput_tok_s: tput, ttft_p95_ms: ttft },
  source: 'requests.jsonl',
});

describe('Pareto and parameter comparison (hand-computed)', () => {
  const rows = [
    row('a', 100, 50, 4096),
    row('b', 200, 80, 8192),
    row('c', 150, 90, 8192),
    row('d', 200, 100, 16384),
    row('e', 300, 200, 16384),
  ];
  it('frontier of throughput (max) vs p95 TTFT (min)', () => {
    const p = paretoFrontier(
      rows,
      { metric: 'output_throughput_tok_s', direction: 'max' },
      { metric: 'ttft_p95_ms', direction: 'min' },
    );
    // c is dominated by b (more throughput, less TTFT); d by b (same throughput, less TTFT)
    expect(p.frontier.map((i) => rows[i]!.run).sort()).toEqual(['a', 'b', 'e']);
  });
  it('parses pareto specs', () => {
    expect(parseParetoSpec('x:max,y:min')).toEqual([
      { metric: 'x', direction: 'max' },
      { metric: 'y', direction: 'min' },
    ]);
    expect(parseParetoSpec('output_throughput_tok_s,e2e_p99_ms')![1].direction).toBe('min');
    expect(parseParetoSpec('x:up,y:min')).toBeNull();
  });
  it('compares one parameter', () => {
    const c = compareParam(rows, 'max_num_batched_tokens', 'output_throughput_tok_s');
    expect(c.groups.map((g) => [g.value, g.n, g.mean])).toEqual([
      ['4096', 1, 100],
      ['8192', 2, 175],
      ['16384', 2, 250],
    ]);
    expect(c.best).toBe('16384');
    expect(compareParam(rows, 'max_num_batched_tokens', 'ttft_p95_ms').best).toBe('4096');
  });
});

describe('bench latency per stage', () => {
  it('hand-computed TTFT / TPOT / E2E per stage, errors apart, warm-up excluded', () => {
    const recs = [
      request(0, 0, 0, 100, 1100),
      request(1, 0, 1, 200, 1200),
      request(2, 1, 10, 300, 2300),
      { ...request(3, 1, 11, 50, 60), status: 'error' as const, errorKind: 'http' as const },
      { ...request(4, 0, 0.5, 9999, 99999), warmup: true },
    ];
    const st = benchStages(recs, new Map([[1, { target: 8, label: 'poisson@8.00/s' }]]));
    expect(st).toHaveLength(2);
    expect(st[0]!.ttftMs.p50).toBe(150);
    expect(st[0]!.e2eMs.mean).toBe(1150);
    expect(st[0]!.tpotMs.p50).toBe(100); // (1100-100)/10 and (1200-200)/10
    expect(st[0]!.requests).toBe(2);
    expect(st[1]!.errors).toBe(1);
    expect(st[1]!.ttftMs.count).toBe(1);
    expect(st[1]!.targetLabel).toBe('poisson@8.00/s');
    expect(st[1]!.errorsByKind).toEqual({ 'error: http': 1 });
  });
  it('stage targets from a sweep summary.json (arrivals strings), else run.json argv', () => {
    const base = { kind: 'bench' as const, dir: 'd', requests: [], kv: [], skipped: [], missing: [] };
    const sweep = stageTargets({
      ...base,
      run: {},
      summary: {
        stages: [
          { stage: 0, arrivals: 'poisson@2.00/s' },
          { stage: 1, arrivals: 'closed(c=64)' },
        ],
      },
    });
    expect(sweep.get(0)).toEqual({ target: 2, label: 'poisson@2.00/s' });
    expect(sweep.get(1)).toEqual({ target: 64, label: 'closed(c=64)' });
    const argv = stageTargets({ ...base, run: { args: ['--request-rate', '6'] }, summary: null });
    expect(argv.get(0)).toEqual({ target: 6, label: '6 req/s' });
  });

  it('argv params as servelab bench writes them', () => {
    expect(argvParams(['--request-rate', '4', '--ignore-eos', '--model=m', '--header', 'x: y'])).toEqual({
      'request-rate': 4,
      'ignore-eos': true,
      model: 'm',
      header: 'x: y',
    });
  });
});

describe('aggregate over crafted bench dirs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'servelab-agg-'));
    let seed = 1;
    for (const mnbt of [4096, 8192, 16384])
      for (const rate of [2, 8])
        await writeSyntheticBench(join(dir, `r-${mnbt}-${rate}`), {
          n: 40,
          ratePerSec: rate,
          config: { max_num_batched_tokens: mnbt, kv_cache_dtype: 'auto' },
          ttftBaseMs: 20_000 / mnbt + rate * 10,
          tpotMs: 5,
          seed: seed++,
        });
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('one row per run with config columns, and a frontier', async () => {
    const runs: BenchRunInput[] = [];
    for (const mnbt of [4096, 8192, 16384])
      for (const rate of [2, 8]) runs.push((await loadRun(join(dir, `r-${mnbt}-${rate}`))) as BenchRunInput);
    const rows = aggregateRows(runs);
    expect(rows).toHaveLength(6);
    expect(rows[0]!.params).toMatchObject({
      max_num_batched_tokens: 4096,
      'request-rate': 2,
      kv_cache_dtype: 'auto',
    });
    // 40 requests at 2/s span 19.5 s + the last request's E2E
    expect(rows[0]!.metrics.request_throughput_req_s).toBeGreaterThan(1.9);
    expect(rows[0]!.metrics.request_throughput_req_s).toBeLessThan(2.1);
    const p = paretoFrontier(
      rows,
      { metric: 'request_throughput_req_s', direction: 'max' },
      { metric: 'ttft_p95_ms', direction: 'min' },
    );
    expect(p.frontier.length).toBeGreaterThan(0);
    for (const i of p.frontier) {
      const r = rows[i]!;
      expect(
        rows.some(
          (q) =>
            q.metrics.request_throughput_req_s! > r.metrics.request_throughput_req_s! &&
            q.metrics.ttft_p95_ms! < r.metrics.ttft_p95_ms!,
        ),
      ).toBe(false);
    }
    const a = analyzeBench(runs[0]!);
    expect(a.partial).toBe(false);
    expect(a.stages[0]!.targetLabel).toBe('poisson@2.00/s'); // from the bench's summary.json
    expect(a.stages[0]!.target).toBe(2);
  });
});

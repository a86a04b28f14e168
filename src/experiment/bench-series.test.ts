/**
 * A bench run's stages as cells of the one planner and cell runner (bench-series.ts), here in
 * virtual time on the simulator in-process (deterministic, seconds): every stage's records in
 * one requests.jsonl with its stage number, and the automatic sweep: a synchronous and a
 * max-throughput probe, then exactly the rates between their throughputs, arriving at them.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretRegistry } from '../config/secrets.js';
import { type Spec, specSchema } from '../config/spec.js';
import type { RequestRecord } from '../loadgen/records.js';
import { BenchRunDir } from '../loadgen/run-dir.js';
import { runBenchSeries } from './bench-series.js';

function spec(levels: Partial<Spec>): Spec {
  return specSchema.parse({
    name: 'bench',
    servers: {
      bench: {
        kind: 'sim',
        topology: { servers: [{ name: 'bench', model: 'meta-llama/Llama-3.1-8B-Instruct', port: 8000 }] },
        overrides: { freePorts: true },
      },
    },
    arms: [{ name: 'bench', servers: 'bench' }],
    workload: { requests: { dataset: 'random', num_prompts: 60, input_len: 256, output_len: 16 } },
    preflight: { enabled: false },
    metrics: { intervalMs: 1000 },
    ...levels,
  });
}

async function series(s: Spec, auto?: { rates: number; maxConcurrency: number }) {
  const dir = join(mkdtempSync(join(tmpdir(), 'servelab-series-')), 'run');
  const runDir = new BenchRunDir(dir, 'bench', [], new Date());
  const res = await runBenchSeries({
    spec: s,
    baseDir: dir,
    dir,
    runDir,
    env: {},
    log: () => {},
    secrets: new SecretRegistry(),
    mode: 'virtual',
    ...(auto ? { auto } : {}),
  });
  runDir.close();
  const recs = readFileSync(join(dir, 'requests.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RequestRecord);
  return { res, recs, dir };
}

describe('bench stages as cells (virtual time)', () => {
  it('a list of levels: one stage each, its records numbered with it, its cell record complete', async () => {
    const { res, recs, dir } = await series(spec({ concurrency: [1, 4] }));
    expect(res.failed).toBeUndefined();
    expect(res.stages.map((s) => s.arrivals)).toEqual(['closed(c=1)', 'closed(c=4)']);
    expect(recs.filter((r) => r.stage === 0)).toHaveLength(60);
    expect(recs.filter((r) => r.stage === 1)).toHaveLength(60);
    const cell = JSON.parse(readFileSync(join(dir, 'stages', '1', 'cell.json'), 'utf8'));
    expect(cell).toMatchObject({ status: 'complete', phaseReached: 'teardown', mode: 'virtual' });
    // C=4 serves more requests per second than C=1
    expect(res.stages[1]!.summary.throughput.requestsPerS).toBeGreaterThan(
      res.stages[0]!.summary.throughput.requestsPerS,
    );
  }, 60_000);

  it('auto: the probes, then exactly the rates between their throughputs, arriving at them', async () => {
    const { res } = await series(spec({ concurrency: [1] }), { rates: 2, maxConcurrency: 16 });
    expect(res.stages[0]!.arrivals).toBe('closed(c=1)');
    expect(res.stages[1]!.arrivals).toBe('closed(c=16)');
    expect(res.stages.length).toBeGreaterThanOrEqual(3);
    expect(res.stages.length).toBeLessThanOrEqual(4);
    const sync = res.stages[0]!.summary.throughput.requestsPerS;
    const max = res.stages[1]!.summary.throughput.requestsPerS;
    // auto:2 -> sync + (max - sync) x 1/3 and x 2/3
    const want = [sync + (max - sync) / 3, sync + ((max - sync) * 2) / 3];
    res.stages.slice(2).forEach((st, k) => {
      const a = st.spec as { kind: 'poisson'; ratePerSec: number };
      expect(a.kind).toBe('poisson');
      expect(a.ratePerSec).toBeCloseTo(want[k]!, 9);
      // what was offered: 60 arrivals over the span of their due times
      const due = st.records.map((r) => r.scheduledMs).sort((x, y) => x - y);
      const offered = (due.length - 1) / ((due.at(-1)! - due[0]!) / 1000);
      expect(offered / want[k]!).toBeGreaterThan(0.7);
      expect(offered / want[k]!).toBeLessThan(1.4);
    });
    if (res.stages.length < 4) expect(res.stoppedEarly).toMatch(/stopped after poisson@/);
  }, 60_000);
});

/**
 * The load scenarios on the in-process simulator in virtual time (seconds of wall time for
 * minutes of load): ramp finds the knee, grid skips cells over max_model_len, soak says stable
 * without a leak and degrading with an injected slow one, the SLO search brackets its answer.
 */

import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { syntheticItems } from '../../workload/synthetic.js';
import type { RequestRecord } from '../records.js';
import { parseSlo } from '../slo.js';
import { parseLengths, runGrid } from './grid.js';
import type { ClientPoint } from './level.js';
import { doublingLevels, rampRequests, runRamp } from './ramp.js';
import { runSloSearch } from './slo-search.js';
import { runSoak, SOAK_DEFAULTS, soakLoadFromRamp, soakSlices, soakVerdict } from './soak.js';
import { virtualSim } from './virtual.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const items = (k: number) =>
  syntheticItems({
    count: 400,
    input: { kind: 'fixed', value: 256 },
    output: { kind: 'uniform', min: 32, max: 96 },
    seed: k + 1,
  });

describe('scenarios on the simulator', () => {
  it('ramp: with max_num_seqs 16 the knee is c=16 (c=32 queues 16 requests), every record kept', async () => {
    const sim = virtualSim({ engine: { model: MODEL, gpu: 'H100', maxModelLen: 8192, maxNumSeqs: 16 } });
    const seen: RequestRecord[] = [];
    const r = await runRamp(sim.runner({ onRecord: (x) => seen.push(x) }), {
      levels: doublingLevels(256),
      items,
      requests: rampRequests(20),
    });
    expect(r.levels.map((l) => l.label)).toEqual(['c=1', 'c=2', 'c=4', 'c=8', 'c=16', 'c=32']);
    expect(r.knee).toMatchObject({ saturated: true, knee: 4, at: 5 });
    expect(r.kneeLevel?.label).toBe('c=16');
    expect(r.knee.reason).toContain('knee at c=16');
    // c=32 against 16 running slots: about 16 wait
    expect(r.levels[5]!.meanWaiting!).toBeGreaterThan(8);
    // a soak without a given load runs at 90 % of this knee
    expect(soakLoadFromRamp(r)).toMatchObject({ concurrency: 14, basis: 'c=16' });
    expect(soakLoadFromRamp(r).why).toBe("c=14 = 90 % of the ramp's knee c=16");
    expect(seen.length).toBe(r.levels.reduce((a, l) => a + l.measured, 0));
    expect(new Set(seen.map((x) => x.stage))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
  });

  it('ramp without a cap stops where throughput stops growing (the KV cache fills)', async () => {
    const sim = virtualSim({
      engine: { model: MODEL, gpu: 'H100', maxModelLen: 4096, numGpuBlocksOverride: 600 },
    });
    const r = await runRamp(sim.runner(), { levels: doublingLevels(512), items, requests: rampRequests(20) });
    expect(r.knee.saturated).toBe(true);
    const at = r.levels[r.knee.at!]!;
    expect(at.meanKvUsage!).toBeGreaterThan(0.5);
    expect(r.knee.knee).not.toBeNull();
  });

  it('grid: one stage per cell; cells over max_model_len are skipped with the reason', async () => {
    const sim = virtualSim({ engine: { model: MODEL, gpu: 'H100', maxModelLen: 8192 } });
    const g = await runGrid(sim.runner(), {
      prompts: parseLengths('512,4k,8150,16k', '--grid-prompts'),
      outputs: parseLengths('16,64', '--grid-outputs'),
      maxModelLen: sim.maxModelLen,
      arrivals: { kind: 'closed', concurrency: 4 },
      requestsPerCell: 8,
      seed: 3,
    });
    expect(g.cells.map((c) => [c.promptTokens, c.outputTokens])).toEqual([
      [512, 16],
      [512, 64],
      [4000, 16],
      [4000, 64],
      [8150, 16],
      [8150, 64],
      [16000, 16],
      [16000, 64],
    ]);
    const ran = g.cells.filter((c) => c.row);
    expect(ran).toHaveLength(5);
    for (const c of ran) expect(c.row).toMatchObject({ ok: 8, measured: 8 });
    const skipped = g.cells.filter((c) => c.skipped);
    // 8150 + 16 = 8166 fits 8192 and runs; 8150 + 64 = 8214 does not
    expect(skipped.map((c) => [c.promptTokens, c.outputTokens])).toEqual([
      [8150, 64],
      [16000, 16],
      [16000, 64],
    ]);
    expect(skipped[1]!.skipped).toContain('16016 tokens > max_model_len 8192');
    // a longer prompt takes longer to its first token
    expect(ran[2]!.row!.ttftP50Ms!).toBeGreaterThan(ran[0]!.row!.ttftP50Ms!);
    expect(ran.map((c) => c.row!.stage)).toEqual([0, 1, 2, 3, 4]);
  });

  const soak = async (drift: number, kvLeakOneIn = 0) => {
    const sim = virtualSim({
      engine: { model: MODEL, gpu: 'H100', maxModelLen: 8192 },
      stepDriftPctPerMin: drift,
      kvLeakOneIn,
    });
    return runSoak(sim.runner(), {
      arrivals: { kind: 'closed', concurrency: 32 },
      items: items(7),
      durationMs: 180_000,
      sliceMs: 10_000,
    });
  };

  it('soak without a leak: stable (no cry wolf)', async () => {
    const r = await soak(0);
    expect(r.verdict).toBe('stable');
    expect(r.slices).toHaveLength(18);
    expect(r.series.map((s) => s.key)).toEqual(
      expect.arrayContaining(['outputTokensPerS', 'tpotP50Ms', 'kvUsage', 'waiting', 'preemptions']),
    );
    expect(r.series.some((s) => s.trend.moves)).toBe(false);
  });

  it('soak with an injected slow leak (step time +3 %/min): degrading, with the evidence', async () => {
    const r = await soak(3);
    expect(r.verdict).toBe('degrading');
    const tpot = r.series.find((s) => s.key === 'tpotP50Ms')!;
    expect(tpot.trend.moves).toBe(true);
    expect(tpot.trend.p).toBeLessThan(0.01);
    expect(tpot.evidence).toMatch(/TPOT p50: \+.* Mann-Kendall p = .* < 0.01: MOVES/);
    expect(r.series.find((s) => s.key === 'outputTokensPerS')!.trend.moves).toBe(true);
  });

  it('soak with an injected KV block leak (1 in 50 freed blocks lost): drifting on KV usage, users see nothing yet', async () => {
    const r = await soak(0, 50);
    expect(r.verdict).toBe('drifting');
    expect(r.why).toContain('KV usage');
    const kv = r.series.find((s) => s.key === 'kvUsage')!;
    expect(kv.group).toBe('server');
    expect(kv.trend.moves).toBe(true);
    expect(kv.trend.change).toBeGreaterThan(0.1);
    expect(kv.evidence).toMatch(/KV usage: \+.* Mann-Kendall p = .* < 0.01: MOVES/);
    // KV creeps slice by slice; the client-facing series do not move
    expect(r.slices.at(-1)!.kvUsage!).toBeGreaterThan(r.slices[1]!.kvUsage! + 0.1);
    expect(r.series.filter((s) => s.group === 'client-facing' && s.trend.moves)).toEqual([]);
  });

  it('soak client heap: the slice minimum (after a collection) is tested, not the collector sawtooth', async () => {
    const sim = virtualSim({ engine: { model: MODEL, gpu: 'H100', maxModelLen: 8192 } });
    const res = await sim.runner()({
      arrivals: { kind: 'closed', concurrency: 4 },
      items: items(3),
      durationMs: 120_000,
      label: 'soak',
    });
    // a flat live heap of 400 MiB; 80 MiB of garbage per 1-s sample until the collector runs, and
    // the collector runs less often as the run goes on (every 2 samples at first, every 10 at the
    // end, still once per 10-s slice): the slice mean climbs by ~360 MiB, the minimum stays flat
    const t0 = res.stage.outcome.startMs;
    const client: ClientPoint[] = [];
    let garbage = 0;
    for (let i = 0; i < 120; i++) {
      const period = 2 + Math.floor((Math.floor(i / 10) * 8) / 11);
      garbage = i % period === 0 ? 0 : garbage + 1;
      const heap = (400 + 80 * garbage) * 2 ** 20;
      client.push({ tMs: t0 + i * 1000, rssBytes: heap + 2 ** 28, heapUsedBytes: heap });
    }
    const slices = soakSlices({ ...res, client }, 120_000, 10_000);
    expect(slices.map((x) => x.heapUsedMiB)).toEqual(slices.map(() => 400));
    const v = soakVerdict(slices, {
      alpha: SOAK_DEFAULTS.alpha,
      tolerance: SOAK_DEFAULTS.tolerance,
      warmupSlices: 1,
    });
    expect(v.verdict).toBe('stable');
    expect(v.series.find((x) => x.key === 'heapUsedMiB')!.trend.moves).toBe(false);
  });

  it('soak without a leak over 10 virtual minutes with the real client heap: stable, heap tested and not flagged', async () => {
    const sim = virtualSim({ engine: { model: MODEL, gpu: 'H100', maxModelLen: 8192 } });
    const r = await runSoak(
      sim.runner({ sampleClient: () => ({ rss: 0, heapUsed: v8.getHeapStatistics().used_heap_size }) }),
      {
        arrivals: { kind: 'closed', concurrency: 16 },
        items: items(11),
        durationMs: 600_000,
        sliceMs: 30_000,
      },
    );
    expect(r.verdict).toBe('stable');
    const heap = r.series.find((x) => x.key === 'heapUsedMiB')!;
    expect(heap.trend.n).toBe(19);
    expect(heap.trend.moves).toBe(false);
  });

  it('SLO search: the highest concurrency that meets the SLO, and the next one breaks it', async () => {
    const sim = virtualSim({ engine: { model: MODEL, gpu: 'H100', maxModelLen: 8192, maxNumSeqs: 16 } });
    const slo = parseSlo('ttft:P99<400ms');
    const r = await runSloSearch(sim.runner(), {
      over: 'concurrency',
      start: 1,
      max: 256,
      slo,
      maxSteps: 14,
      items,
      requests: rampRequests(20),
    });
    expect(r.best).not.toBeNull();
    expect(r.next).not.toBeNull();
    expect(r.best!.slo.ok).toBe(true);
    expect(r.best!.slo.checks[0]!.valueMs!).toBeLessThan(400);
    expect(r.next!.slo.ok).toBe(false);
    expect(r.next!.slo.checks[0]!.valueMs!).toBeGreaterThanOrEqual(400);
    expect(r.next!.load).toBe(r.best!.load + 1);
    expect(r.ended).toContain('adjacent concurrencies');
    expect(r.levels.length).toBeLessThanOrEqual(14);
  });
});

import { describe, expect, it } from 'vitest';
import { getGpu } from '../knowledge/gpus.js';
import { getModel } from '../knowledge/models.js';
import { defaultPrices } from './inputs.js';
import { enumerateLayouts, layoutLabel, type PlanInput, planDeployment } from './plan.js';

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    model: getModel('deepseek-ai/DeepSeek-R1'),
    gpus: [getGpu('H100-NVL')],
    gpusPerNode: 8,
    kvCacheDtype: 'fp8',
    maxModelLen: 131072,
    gpuMemoryUtilization: 0.9,
    blockSize: 16,
    enableExpertParallel: false,
    maxGpus: 32,
    interNodeGbps: 400,
    load: { concurrency: 8, inputLen: 4096, outputLen: 512, numPrompts: 24, seed: 1 },
    slo: {},
    prices: defaultPrices(),
    simulate: true,
    ...over,
  };
}

describe('servelab plan', () => {
  it("reaches W5's conclusion for DeepSeek-R1 FP8 on H100 NVL by itself", () => {
    const r = planDeployment(input());
    const by = (l: string) => r.options.find((o) => o.label === l)!;
    // one pod: the weights fit, a 128k sequence does not
    const pod = by('TP8');
    expect(pod.memory.weightsFit).toBe(true);
    expect(pod.memory.fits).toBe(false);
    expect(pod.kvTokensTotal).toBe(42768);
    expect(pod.maxSeqsAtMaxModelLen).toBe(0);
    expect(pod.memory.missGiB).toBeGreaterThan(2);
    expect(pod.sim).toBeUndefined();
    // at the utilization it says it needs (rounded up), it fits
    const util = Math.ceil(pod.neededUtilization * 100) / 100;
    expect(util).toBe(0.94);
    const at = planDeployment(
      input({ layout: { tp: 8, pp: 1, dp: 1 }, gpuMemoryUtilization: util, simulate: false }),
    );
    expect(at.options[0]!.memory.fits).toBe(true);
    // two pods, either way
    expect(by('TP16').kvTokensTotal).toBe(1262720);
    expect(by('TP16').maxSeqsAtMaxModelLen).toBe(9);
    expect(by('TP8 x PP2').kvTokensTotal).toBe(2400896);
    expect(by('TP8 x PP2').maxSeqsAtMaxModelLen).toBe(18);
    // counts start one below the first that fits and stop at 4 pods; TP24 is no layout (128 heads)
    expect(r.options.map((o) => o.label)).toEqual([
      'TP8',
      'TP16',
      'TP8 x PP2',
      'TP8 x PP3',
      'TP32',
      'TP8 x PP4',
      'TP16 x DP2',
      'TP8 x PP2 x DP2',
    ]);
    for (const o of r.options.filter((x) => x.memory.fits)) {
      const s = o.sim!;
      expect(s.requests).toBe(24);
      expect(s.outputTokPerS).toBeGreaterThan(0);
      expect(s.totalTokPerS).toBeGreaterThan(s.outputTokPerS);
      expect(s.ttftMs.p99).toBeGreaterThanOrEqual(s.ttftMs.p50);
      expect(s.tpotMs.p50).toBeGreaterThan(0);
      // $/M output tokens = $/h / (tok/s x 3600 s) x 1e6, at 2.59 $/GPU-hour
      expect(o.usdPerHour).toBeCloseTo(2.59 * o.gpusTotal, 9);
      expect(o.usdPerMOutputTokens).toBeCloseTo((o.usdPerHour! / (s.outputTokPerS * 3600)) * 1e6, 9);
    }
    // the cheapest per output token is marked, and it is a two-pod option
    const best = r.options.filter((o) => o.best);
    expect(best).toHaveLength(1);
    expect(r.best).toBe(best[0]!.label);
    const cheapest = Math.min(...r.options.filter((o) => o.sim).map((o) => o.usdPerMOutputTokens!));
    expect(best[0]!.usdPerMOutputTokens).toBe(cheapest);
  });

  it('marks nothing when no option meets the SLO, and says so', () => {
    const r = planDeployment(input({ slo: { ttftP99Ms: 1 }, maxGpus: 16 }));
    expect(r.best).toBeNull();
    expect(r.options.filter((o) => o.sim).every((o) => o.meetsSlo === false)).toBe(true);
    expect(r.notes).toContain('no option meets the SLO at this load');
  });

  it('EP over DP: experts spread over every GPU, and the note says what is not modelled', () => {
    const r = planDeployment(input({ layout: { tp: 8, pp: 1, dp: 2 }, enableExpertParallel: true }));
    const o = r.options[0]!;
    // experts 653.9e9 B over 16 GPUs (38.06 GiB) + the rest over 8 (2.21 GiB): 40.27 GiB per GPU, as TP16
    expect(o.memory.weightsGiBPerGpu).toBeCloseTo(40.27, 2);
    expect(o.memory.fits).toBe(true);
    expect(o.kvTokensTotal).toBe(2 * o.memory.kvCapacityTokens);
    expect(o.sim?.requests).toBe(24);
    expect(r.notes.join('\n')).toMatch(/all-to-all is not modelled/);
  });

  it('marks nothing without a price, and says how to give one', () => {
    const r = planDeployment(input({ prices: new Map(), maxGpus: 16 }));
    expect(r.best).toBeNull();
    expect(r.options.every((o) => o.usdPerHour === undefined)).toBe(true);
    expect(r.notes.join('\n')).toMatch(/--price H100-NVL-94GB=USD\/h/);
  });

  it('enumerates single-GPU, TP and DP layouts for a small model', () => {
    const inp = input({
      model: getModel('Llama-3.1-8B'),
      gpus: [getGpu('H100')],
      kvCacheDtype: 'bf16',
      maxModelLen: 8192,
    });
    expect(enumerateLayouts(inp, getGpu('H100')).map(layoutLabel)).toEqual([
      'TP1',
      'TP2',
      'TP1 x DP2',
      'TP4',
      'TP1 x DP4',
    ]);
  });

  it('the simulated decode step of an 8B at batch 1 is the roofline (~7 ms, simulator.md)', () => {
    const r = planDeployment(
      input({
        model: getModel('Llama-3.1-8B'),
        gpus: [getGpu('H100')],
        kvCacheDtype: 'bf16',
        maxModelLen: 8192,
        layout: { tp: 1, pp: 1, dp: 1 },
        load: { concurrency: 1, inputLen: 1024, outputLen: 128, numPrompts: 3, seed: 1 },
      }),
    );
    // 16.06e9 B / (3.35e12 x 0.8 B/s) = 5.99 ms + ~1 ms overhead
    const tpot = r.options[0]!.sim!.tpotMs.p50;
    expect(tpot).toBeGreaterThan(6);
    expect(tpot).toBeLessThan(8);
  });

  it('DP replicas share a compute-bound load; Poisson arrivals run too', () => {
    const base = {
      model: getModel('Llama-3.1-8B'),
      gpus: [getGpu('H100')],
      kvCacheDtype: 'bf16' as const,
      maxModelLen: 8192,
      // prefill-heavy: compute-bound, so a second replica adds throughput (memory-bound decode
      // at the same concurrency would not: each replica's step still reads all the weights)
      load: { concurrency: 64, inputLen: 2048, outputLen: 16, numPrompts: 128, seed: 3 },
    };
    const one = planDeployment(input({ ...base, layout: { tp: 1, pp: 1, dp: 1 } })).options[0]!.sim!;
    const two = planDeployment(input({ ...base, layout: { tp: 1, pp: 1, dp: 2 } })).options[0]!.sim!;
    expect(two.outputTokPerS).toBeGreaterThan(1.3 * one.outputTokPerS);
    const rate = planDeployment(
      input({
        ...base,
        layout: { tp: 1, pp: 1, dp: 1 },
        load: { requestRate: 5, inputLen: 512, outputLen: 64, numPrompts: 40, seed: 3 },
      }),
    ).options[0]!.sim!;
    expect(rate.requests).toBe(40);
    // offered 5 req/s, far below capacity: served at about the offered rate
    expect(rate.requestsPerS).toBeGreaterThan(3);
    expect(rate.requestsPerS).toBeLessThan(8);
  });

  it('rejects a load longer than max_model_len and a TP that does not divide the heads', () => {
    expect(() =>
      planDeployment(
        input({ load: { concurrency: 1, inputLen: 131072, outputLen: 1, numPrompts: 1, seed: 0 } }),
      ),
    ).toThrow(/131073 tokens exceeds --max-model-len 131072/);
    expect(() => planDeployment(input({ layout: { tp: 24, pp: 1, dp: 1 } }))).toThrow(
      /--tensor-parallel-size 24 does not divide/,
    );
    // a bound on the simulated run: 2,000 x 131,072 tokens = 2.6e8 > 2e8
    const huge = { concurrency: 8, inputLen: 130000, outputLen: 1072, numPrompts: 2000, seed: 0 };
    expect(() => planDeployment(input({ load: huge }))).toThrow(/more than the planner simulates/);
    // memory and cost only: no bound needed
    const memOnly = planDeployment(input({ simulate: false, maxGpus: 16, load: huge }));
    expect(memOnly.options.every((o) => o.sim === undefined)).toBe(true);
  });
});

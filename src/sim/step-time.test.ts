import { describe, expect, it } from 'vitest';
import { getGpu } from '../knowledge/gpus.js';
import { getModel } from '../knowledge/models.js';
import { makeStepTime } from './step-time.js';

const llama = getModel('Llama-3.1-8B');
const h100 = getGpu('H100');
const st = makeStepTime({ model: llama, gpu: h100, tp: 1, weightDtype: 'bf16', kvCacheDtype: 'bf16' });

/** aggregates of a batch of identical requests: q new tokens on c cached each */
function batch(n: number, c: number, q: number, sampling = n) {
  return st(n * q, sampling, n, n * (c + q), n * (2 * q * c + q * q));
}

describe('roofline step time (simulator.md predictions, Llama-3.1-8B on H100)', () => {
  it('decode batch 1 at 1k context ~ 7 ms', () => {
    // bytes 16.06e9 + 131072 * 1025 over 3.35e12 * 0.8 = 6.04 ms, + 1 ms + 4 us
    expect(batch(1, 1024, 1)).toBeCloseTo(7.04, 1);
  });

  it('1k-token prefill ~ 30 ms', () => {
    // 2 * 6.98e9 * 1024 + lm_head + attention = 14.6 TFLOP over 989e12 * 0.5 = 29.5 ms, + 1 ms
    const t = batch(1, 0, 1024);
    expect(t).toBeGreaterThan(29.5);
    expect(t).toBeLessThan(31.5);
  });

  it('batch 256 at 1k context ~ 20.6 ms per step (~12k tok/s)', () => {
    const t = batch(256, 1024, 1);
    expect(Math.abs(t / 20.6 - 1)).toBeLessThan(0.03);
    expect((256 / t) * 1000).toBeGreaterThan(12000);
  });

  it('fixed step time and scale overrides', () => {
    expect(
      makeStepTime({ model: llama, gpu: h100, tp: 1, weightDtype: 'bf16', kvCacheDtype: 'bf16', fixedMs: 0 })(
        10,
        1,
        1,
        10,
        100,
      ),
    ).toBe(0);
    const s2 = makeStepTime({
      model: llama,
      gpu: h100,
      tp: 1,
      weightDtype: 'bf16',
      kvCacheDtype: 'bf16',
      scale: 2,
    });
    expect(s2(1, 1, 1, 1025, 2049)).toBeCloseTo(2 * batch(1, 1024, 1), 9);
  });

  it('FP8 weights halve the weight bytes and double linear FLOP/s on Hopper', () => {
    const f8 = makeStepTime({ model: llama, gpu: h100, tp: 1, weightDtype: 'fp8', kvCacheDtype: 'fp8' });
    // decode: linear weights 1 B/param, embeddings stay BF16, KV 64 KiB/token
    const w = 2 * 128256 * 4096 * 2 + (8.03e9 - 2 * 128256 * 4096);
    expect(f8(1, 1, 1, 1025, 2049)).toBeCloseTo((w + 65536 * 1025) / 2.68e9 + 1.004, 6);
    // prefill: linear FLOPs at 2x peak x FP8_GEMM_EFFICIENCY 0.7 = 1.4x the BF16 rate
    const ratio = f8(1024, 1, 1, 1024, 1024 * 1024) / batch(1, 0, 1024);
    expect(ratio).toBeGreaterThan(0.68);
    expect(ratio).toBeLessThan(0.76);
  });

  it('tensor parallel divides the work and adds all-reduce time', () => {
    const tp2 = makeStepTime({ model: llama, gpu: h100, tp: 2, weightDtype: 'bf16', kvCacheDtype: 'bf16' });
    const one = batch(1, 1024, 1);
    const two = tp2(1, 1, 1, 1025, 2049);
    // half the memory time (6.04/2) + 1 ms + 2*32 all-reduces of 6 us (0.384 ms) + tiny transfer
    expect(two).toBeCloseTo(6.04 / 2 + 1.004 + 0.384, 1);
    expect(two).toBeLessThan(one);
  });

  it('MoE reads only the experts a small batch touches', () => {
    const oss = getModel('openai/gpt-oss-20b');
    const s = makeStepTime({ model: oss, gpu: h100, tp: 1, weightDtype: 'mxfp4', kvCacheDtype: 'bf16' });
    const t1 = s(1, 1, 1, 1025, 2049);
    const t256 = s(256, 256, 256, 256 * 1025, 256 * 2049);
    // batch 1 touches 4 of 32 experts: ~1/8 of the ~10 GB of expert weights + ~3.5 GB dense
    expect(t1).toBeLessThan(3.5);
    expect(t256).toBeGreaterThan(t1 * 2);
  });
});

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

  it('batch 256 at 1k context: GEMMs and KV reads add up, ~22.6 ms per step (~11.3k tok/s)', () => {
    // simulator.md's single max predicted 20.6 ms: max(7.8 ms of FLOPs, 6.0 + 12.8 ms of bytes) + 2.
    // Per operator: GEMMs + lm_head 2 * 6.98e9 * 256 + 2 * 128256 * 4096 * 256 = 3.84e12 FLOP over
    // 494.5 TFLOP/s = 7.77 ms (> 5.99 ms of weights); attention 256 * 1025 * 131072 B over
    // 2.68 TB/s = 12.83 ms (> 0.28 ms of FLOPs); + t0 1 ms + 256 * 4 us = 22.63 ms
    const t = batch(256, 1024, 1);
    expect(t).toBeCloseTo(22.63, 1);
    expect((256 / t) * 1000).toBeGreaterThan(11000);
  });

  it('a mixed step pays its decodes KV reads on top of the prefill GEMMs', () => {
    // 1,792 prefill tokens, then the same plus 256 decodes at 1k context (a 2,048-token step).
    // The decodes add GEMMs 256 * 2 * 6.98e9 / 494.5e12 = 7.23 ms, lm_head 0.54 ms, t_r 1.02 ms
    // and attention max(FLOPs, KV bytes) going from 1.70 ms (prefill FLOPs) to 12.92 ms (KV
    // reads of 1,792 + 262,400 tokens): +20.0 ms. The single max hid the KV reads behind ~60 ms
    // of FLOPs and charged only +9.05 ms.
    const prefill = st(1792, 1, 1, 1792, 1792 * 1792);
    const mixed = st(2048, 257, 257, 1792 + 256 * 1025, 1792 * 1792 + 256 * 2049);
    expect(mixed - prefill).toBeCloseTo(20.0, 0);
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

import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { computeCapacity, defaultBatchLimits } from './capacity.js';
import { getGpu } from './gpus.js';
import { getModel } from './models.js';

describe('KV capacity', () => {
  it('reproduces the RTX 3090 / 8B example (~1,952 blocks, 3.81 GiB KV)', () => {
    const c = computeCapacity({
      model: getModel('Llama-3.1-8B'),
      gpu: getGpu('RTX 3090'),
      maxModelLen: 8192,
    });
    expect(c.kvBytesPerTokenPerGpu).toBe(131072);
    expect(Math.abs(c.numGpuBlocks / 1952 - 1)).toBeLessThan(0.01);
    expect(c.kvGiBPerGpu).toBeCloseTo(3.81, 1);
  });

  it('prints the startup lines as vLLM does', () => {
    const c = computeCapacity({ model: getModel('Llama-3.1-8B'), gpu: getGpu('H100'), maxModelLen: 8192 });
    expect(c.lines[0]).toBe(`GPU KV cache size: ${c.kvCapacityTokens.toLocaleString('en-US')} tokens`);
    expect(c.lines[1]).toMatch(/^Maximum concurrency for 8,192 tokens per request: \d+\.\d\dx$/);
    expect(c.maxConcurrency).toBeCloseTo(c.kvCapacityTokens / 8192, 12);
    // 79.19 * 0.9 - 14.96 weights - 5.5 activations - 0.15 = 50.66 GiB / 2 MiB per block
    expect(c.numGpuBlocks).toBe(Math.floor((79.19 * 0.9 - 16.06e9 / 2 ** 30 - 5.5 - 0.15) * 512));
  });

  it('shards weights and KV heads over tensor parallel GPUs; MLA latents are replicated', () => {
    const m = getModel('Qwen3-32B-FP8');
    const one = computeCapacity({ model: m, gpu: getGpu('H100') });
    const two = computeCapacity({ model: m, gpu: getGpu('H100'), tp: 2 });
    expect(two.kvBytesPerTokenPerGpu).toBe(one.kvBytesPerTokenPerGpu / 2);
    expect(two.kvCapacityTokens).toBeGreaterThan(2 * one.kvCapacityTokens);
    const r1 = computeCapacity({ model: getModel('DeepSeek-R1'), gpu: getGpu('H200'), tp: 8 });
    expect(r1.kvBytesPerTokenPerGpu).toBe(61 * 576 * 2);
  });

  it('fails clearly when the weights do not fit', () => {
    expect(() => computeCapacity({ model: getModel('DeepSeek-R1'), gpu: getGpu('H100') })).toThrow(
      ServelabError,
    );
    expect(() => computeCapacity({ model: getModel('GLM-4.6'), gpu: getGpu('H100'), tp: 4 })).toThrow(
      /does not fit on 4 x H100-SXM-80GB/,
    );
  });

  it('defaults batch limits by GPU memory (A100 excluded)', () => {
    expect(defaultBatchLimits(getGpu('H100'))).toEqual({ maxNumBatchedTokens: 8192, maxNumSeqs: 1024 });
    expect(defaultBatchLimits(getGpu('A100-80GB'))).toEqual({ maxNumBatchedTokens: 2048, maxNumSeqs: 256 });
    expect(defaultBatchLimits(getGpu('RTX 5090'))).toEqual({ maxNumBatchedTokens: 2048, maxNumSeqs: 256 });
  });
});

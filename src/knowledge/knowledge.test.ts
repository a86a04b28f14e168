import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { GPUS, getGpu } from './gpus.js';
import { activeLinearParams, getModel, kvBytesPerToken, MODELS, weightBytes } from './models.js';

describe('knowledge tables', () => {
  it('finds models by name, HF id and checkpoint path', () => {
    expect(getModel('meta-llama/Llama-3.1-8B-Instruct').name).toBe('Llama-3.1-8B');
    expect(getModel('/ckpt/Nemotron-Orchestrator-8B').name).toBe('Nemotron-Orchestrator-8B');
    expect(getModel('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8').numExperts).toBe(512);
    expect(getModel('openai/gpt-oss-20b').topK).toBe(4);
    expect(getModel('/some/dir/Qwen3-8B').name).toBe('Qwen3-8B');
    expect(getModel('zai-org/GLM-4.6-FP8').defaultWeightDtype).toBe('fp8');
    expect(getModel('zai-org/GLM-4.6').defaultWeightDtype).toBe('bf16');
    expect(getModel('Qwen/Qwen3-32B').defaultWeightDtype).toBe('bf16');
    expect(getModel('Qwen/Qwen3-32B-FP8').defaultWeightDtype).toBe('fp8');
  });

  it('names the known entries when a lookup fails', () => {
    try {
      getModel('nope-7b');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ServelabError);
      expect((e as ServelabError).hint).toContain('Llama-3.1-8B');
    }
    expect(() => getGpu('TPU')).toThrow(/unknown GPU "TPU"/);
  });

  it('finds GPUs by alias', () => {
    expect(getGpu('rtx 5090').name).toBe('RTX-5090-32GB');
    expect(getGpu('H200').memTBs).toBe(4.8);
    expect(GPUS.map((g) => g.name)).toEqual(
      expect.arrayContaining([
        'H100-SXM-80GB',
        'H100-NVL-94GB',
        'H200-141GB',
        'A100-80GB',
        'L40S-48GB',
        'RTX-5090-32GB',
      ]),
    );
  });

  it('matches the Llama-3.1-8B figures of simulator.md', () => {
    const m = getModel('Llama-3.1-8B');
    expect(kvBytesPerToken(m, 'bf16')).toBe(131072);
    expect(activeLinearParams(m) / 1e9).toBeCloseTo(6.98, 2);
    expect(weightBytes(m, 'bf16').dense / 1e9).toBeCloseTo(16.06, 2);
  });

  it('has consistent MoE and MLA profiles', () => {
    for (const m of MODELS) {
      const active = activeLinearParams(m);
      expect(active).toBeGreaterThan(0);
      expect(active).toBeLessThanOrEqual(m.totalParams);
    }
    const r1 = getModel('DeepSeek-R1');
    expect(kvBytesPerToken(r1, 'bf16')).toBe(61 * 576 * 2);
    expect((activeLinearParams(r1) + r1.embeddingParams / 2) / 1e9).toBeCloseTo(37, -1);
    const oss = weightBytes(getModel('gpt-oss-20b'), 'mxfp4');
    expect((oss.dense + oss.experts) / 1e9).toBeCloseTo(13.7, 0);
  });
});

/**
 * The memory math by hand, for four models, from the knowledge table and from the published
 * config.json files. Constants: GiB = 2^30 B; H100-SXM-80GB reports 79.19 GiB, H100 NVL 93.1 GiB;
 * gpu_memory_utilization 0.9; non-torch 0.15 GiB; activation peak (8192 batched tokens)
 * 1.33 + 4.17 * hidden / 4096 / sqrt(tp) GiB; block 16 tokens.
 */
import { describe, expect, it } from 'vitest';
import { memoryPlan } from '../knowledge/capacity.js';
import { getGpu } from '../knowledge/gpus.js';
import { getModel, kvBytesPerToken, type ModelProfile } from '../knowledge/models.js';
import { modelFromHfConfig } from './model-config.js';
import { DEEPSEEK_R1, GPT_OSS_20B, LLAMA_31_8B, QWEN3_32B_FP8 } from './testing/hf-configs.js';

const GiB = 2 ** 30;
const H100 = getGpu('H100-SXM-80GB');
const NVL = getGpu('H100-NVL');
const parse = (cfg: object, name: string): ModelProfile =>
  modelFromHfConfig(JSON.stringify(cfg), `${name}/config.json`, name);

describe('memory math by hand', () => {
  it('Llama-3.1-8B BF16 on one H100 SXM', () => {
    const m = getModel('Llama-3.1-8B');
    const p = memoryPlan({ model: m, gpu: H100, maxModelLen: 131072 });
    // KV: 2 (K and V) x 32 layers x 8 KV heads x 128 head dim x 2 B = 131,072 B per token
    expect(p.kvBytesPerTokenPerGpu).toBe(131072);
    // weights: 8.03e9 params x 2 B = 16.06e9 B = 14.957 GiB
    expect(p.weightsGiBPerGpu).toBeCloseTo(14.957, 3);
    // activations 1.33 + 4.17 = 5.50; KV = 79.19 x 0.9 - 14.957 - 5.50 - 0.15 = 71.271 - 20.607 = 50.664 GiB
    expect(p.activationGiB).toBeCloseTo(5.5, 6);
    expect(p.kvGiBPerGpu).toBeCloseTo(50.664, 3);
    // blocks: 50.664 GiB / (16 x 131,072 B = 2 MiB) = 50.664 x 512 = 25,939.9 -> 25,939; 415,024 tokens
    expect(p.numGpuBlocks).toBe(25939);
    expect(p.kvCapacityTokens).toBe(415024);
    // 415,024 / 131,072 = 3.17 sequences of 128k
    expect(p.maxConcurrency).toBeCloseTo(3.166, 3);
    expect(p.fits).toBe(true);
  });

  it('Qwen3-32B-FP8 on one H100 SXM', () => {
    const m = getModel('Qwen3-32B-FP8');
    const p = memoryPlan({ model: m, gpu: H100, maxModelLen: 40960 });
    // KV (BF16): 2 x 64 layers x 8 KV heads x 128 x 2 B = 262,144 B per token
    expect(p.kvBytesPerTokenPerGpu).toBe(262144);
    // weights: embeddings 2 x 151,936 x 5,120 = 1,555,824,640 params stay BF16 (3,111,649,280 B);
    // the other 32.8e9 - 1,555,824,640 = 31,244,175,360 params FP8 (1 B): 34,355,824,640 B = 31.996 GiB
    expect(p.weightsGiBPerGpu).toBeCloseTo(31.996, 3);
    // activations 1.33 + 4.17 x 5120 / 4096 = 6.5425; KV = 71.271 - 31.996 - 6.5425 - 0.15 = 32.582 GiB
    expect(p.activationGiB).toBeCloseTo(6.5425, 6);
    expect(p.kvGiBPerGpu).toBeCloseTo(32.582, 3);
    // blocks: 32.582 GiB / (16 x 262,144 B = 4 MiB) = 32.582 x 256 = 8,341.0 -> 8,341; 133,456 tokens
    expect(p.numGpuBlocks).toBe(8341);
    // 133,456 / 40,960 = 3.26 full-context sequences
    expect(p.maxConcurrency).toBeCloseTo(3.258, 3);
  });

  it('gpt-oss-20b (MXFP4 experts) on one H100 SXM', () => {
    const m = getModel('gpt-oss-20b');
    const p = memoryPlan({ model: m, gpu: H100, maxModelLen: 131072 });
    // KV: 2 x 24 layers x 8 KV heads x 64 x 2 B = 49,152 B per token (sliding layers counted in full)
    expect(p.kvBytesPerTokenPerGpu).toBe(49152);
    // experts 32 x 24 x 3 x 2880 x 2880 = 19,110,297,600 params x 4.25 / 8 B = 10,152,345,600 B;
    // embeddings 2 x 201,088 x 2880 = 1,158,266,880 x 2 B = 2,316,533,760 B;
    // rest 20.9e9 - both = 631,435,520 x 2 B (BF16) = 1,262,871,040 B; sum 13,731,750,400 B = 12.789 GiB
    expect(p.weightsGiBPerGpu).toBeCloseTo(12.789, 3);
    // activations 1.33 + 4.17 x 2880 / 4096 = 4.262; KV = 71.271 - 12.789 - 4.262 - 0.15 = 54.070 GiB
    expect(p.kvGiBPerGpu).toBeCloseTo(54.07, 2);
    // blocks: 54.070 GiB / (16 x 49,152 = 786,432 B) = 73,823.x -> 73,823; 1,181,168 tokens
    expect(p.numGpuBlocks).toBe(73823);
    expect(p.kvCapacityTokens).toBe(1181168);
  });

  it('DeepSeek-R1 FP8 with an FP8 MLA cache on H100 NVL: one pod misses, two pods fit (W5)', () => {
    const m = getModel('DeepSeek-R1');
    const base = { model: m, gpu: NVL, kvCacheDtype: 'fp8' as const, maxModelLen: 131072 };
    // KV (MLA): one latent of 512 (kv_lora_rank) + 64 (rope) = 576 values x 61 layers x 1 B = 35,136 B
    // per token, the same on every TP rank (the latent is not split over heads)
    expect(kvBytesPerToken(m, 'fp8')).toBe(35136);
    // weights: experts 256 x 58 x 3 x 7168 x 2048 = 653,908,770,816 params x 1 B; embeddings
    // 2 x 129,280 x 7168 = 1,853,358,080 x 2 B; rest 15,237,871,104 x 1 B: 672,853,358,080 B = 626.64 GiB
    const tp8 = memoryPlan({ ...base, tp: 8 });
    // TP8: 626.64 / 8 = 78.330 GiB; activations 1.33 + 4.17 x 1.75 / sqrt 8 = 3.910;
    // KV = 93.1 x 0.9 - 78.330 - 3.910 - 0.15 = 83.79 - 82.390 = 1.400 GiB
    expect(tp8.weightsGiBPerGpu).toBeCloseTo(78.33, 2);
    expect(tp8.activationGiB).toBeCloseTo(3.91, 3);
    expect(tp8.kvGiBPerGpu).toBeCloseTo(1.3995, 3);
    // 1.3995 GiB / (16 x 35,136 B) = 2,673 blocks = 42,768 tokens < one 131,072 sequence: vLLM refuses
    expect(tp8.numGpuBlocks).toBe(2673);
    expect(tp8.kvCapacityTokens).toBe(42768);
    expect(tp8.fits).toBe(false);
    // it needs (8192 + 1) blocks x 16 x 35,136 B = 4.289 GiB of KV: 4.289 - 1.400 = 2.89 GiB short per GPU
    expect(tp8.missGiB).toBeCloseTo(2.89, 2);

    // TP16: 626.64 / 16 = 39.165 GiB; activations 1.33 + 7.2975 / 4 = 3.154; KV = 83.79 - 42.47 = 41.320 GiB
    const tp16 = memoryPlan({ ...base, tp: 16 });
    expect(tp16.weightsGiBPerGpu).toBeCloseTo(39.165, 3);
    expect(tp16.kvGiBPerGpu).toBeCloseTo(41.32, 2);
    // 41.320 GiB / 562,176 B per block = 78,920 blocks = 1,262,720 tokens: 9 sequences of 128k (9.63)
    expect(tp16.kvCapacityTokens).toBe(1262720);
    expect(Math.floor(tp16.kvCapacityTokens / 131072)).toBe(9);

    // TP8 x PP2: the larger stage has ceil(61 / 2) = 31 layers: KV 35,136 x 31 / 61 = 17,856 B per token;
    // weights ((672.85e9 - 3.707e9) x 31/61 + 3.707e9 / 2) / 8 = 39.804 GiB; KV = 83.79 - 39.804 - 3.910 - 0.15 = 39.926
    const pp2 = memoryPlan({ ...base, tp: 8, pp: 2 });
    expect(pp2.kvBytesPerTokenPerGpu).toBe(17856);
    expect(pp2.weightsGiBPerGpu).toBeCloseTo(39.804, 3);
    // 39.926 GiB / (16 x 17,856 B) = 150,056 blocks = 2,400,896 tokens: 18 sequences of 128k
    expect(pp2.kvCapacityTokens).toBe(2400896);
    expect(Math.floor(pp2.kvCapacityTokens / 131072)).toBe(18);
  });

  it('EP with DP spreads the routed experts over every GPU', () => {
    const m = getModel('DeepSeek-R1');
    // experts 653.9e9 B / (8 x 2) = 38.06 GiB + the rest (18.94e9 B) / 8 = 2.21 GiB: 40.27 GiB per GPU
    const p = memoryPlan({
      model: m,
      gpu: NVL,
      tp: 8,
      dp: 2,
      enableExpertParallel: true,
      kvCacheDtype: 'fp8',
    });
    expect(p.weightsGiBPerGpu).toBeCloseTo(
      653908770816 / 16 / GiB + (672853358080 - 653908770816) / 8 / GiB,
      9,
    );
    // without EP, DP replicas each hold the whole model
    const noEp = memoryPlan({ model: m, gpu: NVL, tp: 8, dp: 2, kvCacheDtype: 'fp8' });
    expect(noEp.weightsGiBPerGpu).toBeCloseTo(78.33, 2);
  });
});

describe('config.json parsing', () => {
  it('Llama-3.1-8B: the shapes give 8.03e9 parameters and 131,072 KV B/token', () => {
    const m = parse(LLAMA_31_8B, 'Llama-3.1-8B');
    // 32 x (attention 2 x 4096 x 32 x 128 + 2 x 4096 x 8 x 128 = 41,943,040 + MLP 3 x 4096 x 14336 = 176,160,768)
    // + embeddings 2 x 128,256 x 4096 = 6,979,321,856 + 1,050,673,152 = 8,029,995,008
    expect(m.totalParams).toBe(8029995008);
    expect(m.defaultWeightDtype).toBe('bf16');
    expect(kvBytesPerToken(m, 'bf16')).toBe(131072);
    expect(m.maxContext).toBe(131072);
  });

  it('Qwen3-32B-FP8: FP8 from quantization_config; 32.76e9 parameters', () => {
    const m = parse(QWEN3_32B_FP8, 'Qwen3-32B-FP8');
    // 64 x (2 x 5120 x 64 x 128 + 2 x 5120 x 8 x 128 + 3 x 5120 x 25600) + 2 x 151,936 x 5120 = 32,761,446,400
    expect(m.totalParams).toBe(32761446400);
    expect(m.defaultWeightDtype).toBe('fp8');
    expect(kvBytesPerToken(m, 'bf16')).toBe(262144);
    const ref = memoryPlan({ model: getModel('Qwen3-32B-FP8'), gpu: H100 });
    expect(memoryPlan({ model: m, gpu: H100 }).weightsGiBPerGpu).toBeCloseTo(ref.weightsGiBPerGpu, 1);
  });

  it('gpt-oss-20b: num_local_experts, MXFP4, 20.9e9 parameters', () => {
    const m = parse(GPT_OSS_20B, 'gpt-oss-20b');
    // 24 x (2 x 2880 x 64 x 64 + 2 x 2880 x 8 x 64 + router 2880 x 32) + experts 19,110,297,600
    // + embeddings 1,158,266,880 = 20,907,786,240
    expect(m.totalParams).toBe(20907786240);
    expect(m.expertParams).toBe(19110297600);
    expect(m.numExperts).toBe(32);
    expect(m.topK).toBe(4);
    expect(m.defaultWeightDtype).toBe('mxfp4');
    expect(kvBytesPerToken(m, 'bf16')).toBe(49152);
  });

  it('DeepSeek-R1: MLA latent, first_k_dense_replace, shared expert; 671.0e9 parameters', () => {
    const m = parse(DEEPSEEK_R1, 'DeepSeek-R1');
    expect(m.mla).toEqual({ kvLoraRank: 512, ropeHeadDim: 64 });
    // attention per layer: q_a 7168 x 1536 + q_b 1536 x 128 x (128 + 64) + kv_a 7168 x (512 + 64)
    // + kv_b 512 x 128 x (128 + 128) + o 128 x 128 x 7168 = 187,105,280; x 61
    // + 3 dense MLPs 3 x 7168 x 18432 + 58 x (shared 3 x 7168 x 2048 + router 7168 x 256)
    // + experts 653,908,770,816 + embeddings 1,853,358,080 = 671,025,397,760
    expect(m.totalParams).toBe(671025397760);
    expect(m.expertParams).toBe(653908770816);
    expect(m.defaultWeightDtype).toBe('fp8');
    // 61 x 576 x 1 B, whatever num_key_value_heads says
    expect(kvBytesPerToken(m, 'fp8')).toBe(35136);
    const p = memoryPlan({ model: m, gpu: NVL, tp: 8, kvCacheDtype: 'fp8', maxModelLen: 131072 });
    expect(p.fits).toBe(false);
    expect(p.kvCapacityTokens).toBeLessThan(131072);
  });

  it('names the file and the field when the config is malformed', () => {
    expect(() => modelFromHfConfig('{not json', 'x/config.json')).toThrow(/x\/config.json: not valid JSON/);
    const { hidden_size: _h, ...noHidden } = LLAMA_31_8B;
    expect(() => modelFromHfConfig(JSON.stringify(noHidden), 'c.json')).toThrow(
      /c.json: "hidden_size" is missing/,
    );
    expect(() =>
      modelFromHfConfig(JSON.stringify({ ...LLAMA_31_8B, num_hidden_layers: -3 }), 'c.json'),
    ).toThrow(/"num_hidden_layers" must be an integer in \[1, 1000\], got -3/);
    expect(() =>
      modelFromHfConfig(
        JSON.stringify({ ...LLAMA_31_8B, quantization_config: { quant_method: 'awq' } }),
        'c.json',
      ),
    ).toThrow(/quantization "awq" is not modelled/);
    expect(() => modelFromHfConfig('[1,2]', 'c.json')).toThrow(/not a JSON object/);
  });
});

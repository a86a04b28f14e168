/**
 * Model architecture profiles for the simulator: what the roofline step time and the KV math
 * need. Parameter counts are from the published configs (layers x shapes), rounded.
 * `expertParams` is the total of all routed experts over all MoE layers (0 for dense models);
 * the non-expert linear weights (attention, shared experts, dense MLPs, routers) are
 * totalParams - embeddingParams - expertParams.
 */
import { ServelabError } from '../errors.js';

export type WeightDtype = 'bf16' | 'fp8' | 'mxfp4';
export type KvDtype = 'bf16' | 'fp8';

export interface ModelProfile {
  name: string;
  /** HF ids, checkpoint paths, short names */
  aliases: readonly string[];
  layers: number;
  /** layers holding a KV cache (full attention); hybrid models have fewer than `layers` */
  attentionLayers: number;
  hidden: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocab: number;
  totalParams: number;
  /** published active parameters per token (incl. embeddings), for display */
  activeParams: number;
  /** input embedding + lm_head parameters (tied models: counted once) */
  embeddingParams: number;
  /** all routed experts over all MoE layers; 0 for dense */
  expertParams: number;
  numExperts: number;
  topK: number;
  defaultWeightDtype: WeightDtype;
  maxContext: number;
  /** MLA (DeepSeek): compressed latent cached per token per layer = kvLoraRank + ropeDim */
  mla?: { kvLoraRank: number; ropeHeadDim: number };
  notes?: string;
}

export const DTYPE_BYTES: Record<WeightDtype | KvDtype, number> = {
  bf16: 2,
  fp8: 1,
  // 4-bit values + one 8-bit scale per 32
  mxfp4: 4.25 / 8,
};

const QWEN3_8B_ARCH = {
  layers: 36,
  attentionLayers: 36,
  hidden: 4096,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  vocab: 151936,
  totalParams: 8.19e9,
  activeParams: 8.19e9,
  embeddingParams: 2 * 151936 * 4096,
  expertParams: 0,
  numExperts: 0,
  topK: 0,
  defaultWeightDtype: 'bf16' as const,
  maxContext: 40960,
};

const BASE_MODELS: readonly ModelProfile[] = [
  {
    name: 'Llama-3.1-8B',
    aliases: [
      'meta-llama/Llama-3.1-8B-Instruct',
      'meta-llama/Llama-3.1-8B',
      'meta-llama/Meta-Llama-3.1-8B-Instruct',
      'llama-8b',
      'llama3.1-8b',
    ],
    layers: 32,
    attentionLayers: 32,
    hidden: 4096,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    vocab: 128256,
    totalParams: 8.03e9,
    activeParams: 8.03e9,
    embeddingParams: 2 * 128256 * 4096,
    expertParams: 0,
    numExperts: 0,
    topK: 0,
    defaultWeightDtype: 'bf16',
    maxContext: 131072,
  },
  {
    name: 'Qwen3-8B',
    aliases: ['Qwen/Qwen3-8B', 'qwen3-8b'],
    ...QWEN3_8B_ARCH,
  },
  {
    name: 'Nemotron-Orchestrator-8B',
    aliases: ['/ckpt/Nemotron-Orchestrator-8B', 'nvidia/Nemotron-Orchestrator-8B', 'orchestrator-8b'],
    ...QWEN3_8B_ARCH,
    notes: 'Qwen3-8B architecture (the W1 orchestrator)',
  },
  {
    name: 'Qwen3-32B-FP8',
    aliases: ['Qwen/Qwen3-32B-FP8', 'qwen3-32b-fp8'],
    layers: 64,
    attentionLayers: 64,
    hidden: 5120,
    numHeads: 64,
    numKvHeads: 8,
    headDim: 128,
    vocab: 151936,
    totalParams: 32.8e9,
    activeParams: 32.8e9,
    embeddingParams: 2 * 151936 * 5120,
    expertParams: 0,
    numExperts: 0,
    topK: 0,
    defaultWeightDtype: 'fp8',
    maxContext: 40960,
  },
  {
    name: 'gpt-oss-20b',
    aliases: ['openai/gpt-oss-20b'],
    layers: 24,
    attentionLayers: 24,
    hidden: 2880,
    numHeads: 64,
    numKvHeads: 8,
    headDim: 64,
    vocab: 201088,
    totalParams: 20.9e9,
    activeParams: 3.6e9,
    embeddingParams: 2 * 201088 * 2880,
    // 32 experts x 24 layers x 3 x 2880 x 2880
    expertParams: 32 * 24 * 3 * 2880 * 2880,
    numExperts: 32,
    topK: 4,
    defaultWeightDtype: 'mxfp4',
    maxContext: 131072,
    notes:
      'MoE experts in MXFP4, the rest BF16; half the layers use a 128-token sliding window (not modelled: all layers cache the full context)',
  },
  {
    name: 'Qwen3-Next-80B-A3B-Instruct-FP8',
    aliases: ['Qwen/Qwen3-Next-80B-A3B-Instruct-FP8', 'qwen3-next-80b-fp8'],
    layers: 48,
    // 3 of 4 layers are Gated DeltaNet (constant-size state, not modelled as KV)
    attentionLayers: 12,
    hidden: 2048,
    numHeads: 16,
    numKvHeads: 2,
    headDim: 256,
    vocab: 151936,
    totalParams: 80e9,
    activeParams: 3e9,
    embeddingParams: 2 * 151936 * 2048,
    // 512 experts x 48 layers x 3 x 2048 x 512
    expertParams: 512 * 48 * 3 * 2048 * 512,
    numExperts: 512,
    topK: 10,
    defaultWeightDtype: 'fp8',
    maxContext: 262144,
    notes: 'hybrid: 12 full-attention layers hold KV; linear-attention state per request is not modelled',
  },
  {
    name: 'GLM-4.6',
    aliases: ['zai-org/GLM-4.6', 'glm-4.6'],
    layers: 92,
    attentionLayers: 92,
    hidden: 5120,
    numHeads: 96,
    numKvHeads: 8,
    headDim: 128,
    vocab: 151552,
    totalParams: 355e9,
    activeParams: 32e9,
    embeddingParams: 2 * 151552 * 5120,
    // 160 experts x 89 MoE layers x 3 x 5120 x 1536
    expertParams: 160 * 89 * 3 * 5120 * 1536,
    numExperts: 160,
    topK: 8,
    defaultWeightDtype: 'bf16',
    maxContext: 202752,
  },
  {
    name: 'DeepSeek-R1',
    aliases: ['deepseek-ai/DeepSeek-R1', 'deepseek-ai/DeepSeek-R1-0528', 'deepseek-r1'],
    layers: 61,
    attentionLayers: 61,
    hidden: 7168,
    numHeads: 128,
    numKvHeads: 1,
    headDim: 576,
    vocab: 129280,
    totalParams: 671e9,
    activeParams: 37e9,
    embeddingParams: 2 * 129280 * 7168,
    // 256 experts x 58 MoE layers x 3 x 7168 x 2048
    expertParams: 256 * 58 * 3 * 7168 * 2048,
    numExperts: 256,
    topK: 8,
    defaultWeightDtype: 'fp8',
    maxContext: 163840,
    mla: { kvLoraRank: 512, ropeHeadDim: 64 },
    notes: 'MLA: one 576-wide latent per token per layer is cached (no K/V split, no per-head copies)',
  },
];

/** the same architecture under another checkpoint name and weight dtype */
function variant(baseName: string, name: string, aliases: string[], dtype: WeightDtype): ModelProfile {
  const base = BASE_MODELS.find((m) => m.name === baseName)!;
  return { ...base, name, aliases, defaultWeightDtype: dtype };
}

export const MODELS: readonly ModelProfile[] = [
  ...BASE_MODELS,
  variant('Qwen3-32B-FP8', 'Qwen3-32B', ['Qwen/Qwen3-32B', 'qwen3-32b'], 'bf16'),
  variant(
    'Qwen3-Next-80B-A3B-Instruct-FP8',
    'Qwen3-Next-80B-A3B-Instruct',
    ['Qwen/Qwen3-Next-80B-A3B-Instruct', 'qwen3-next-80b'],
    'bf16',
  ),
  variant('GLM-4.6', 'GLM-4.6-FP8', ['zai-org/GLM-4.6-FP8', 'glm-4.6-fp8'], 'fp8'),
];

function norm(s: string): string {
  return s.trim().toLowerCase();
}

const BY_NAME = new Map<string, ModelProfile>();
for (const m of MODELS) {
  BY_NAME.set(norm(m.name), m);
  for (const a of m.aliases) BY_NAME.set(norm(a), m);
}

export function findModel(name: string): ModelProfile | undefined {
  return BY_NAME.get(norm(name)) ?? BY_NAME.get(norm(name.split('/').pop() ?? name));
}

/** Look a model up by name, HF id or checkpoint path (case-insensitive); unknown -> ServelabError. */
export function getModel(name: string): ModelProfile {
  const m = findModel(name);
  if (!m) {
    throw new ServelabError('BAD_CONFIG', `unknown model "${name}"`, {
      hint: `known models: ${MODELS.map((x) => x.name).join(', ')} (or one of their HF ids)`,
    });
  }
  return m;
}

/** KV bytes cached per token over the whole model (all GPUs together). */
export function kvBytesPerToken(m: ModelProfile, kvDtype: KvDtype): number {
  const b = DTYPE_BYTES[kvDtype];
  if (m.mla) return m.attentionLayers * (m.mla.kvLoraRank + m.mla.ropeHeadDim) * b;
  return 2 * m.attentionLayers * m.numKvHeads * m.headDim * b;
}

/** Non-embedding linear parameters that one token passes through (FLOPs). */
export function activeLinearParams(m: ModelProfile): number {
  const nonExpert = m.totalParams - m.embeddingParams - m.expertParams;
  if (m.numExperts === 0) return nonExpert;
  return nonExpert + (m.expertParams * m.topK) / m.numExperts;
}

/** Weight bytes split into always-read (non-expert + embeddings) and routed-expert bytes. */
export function weightBytes(m: ModelProfile, dtype: WeightDtype): { dense: number; experts: number } {
  const nonExpert = m.totalParams - m.embeddingParams - m.expertParams;
  // embeddings stay BF16 in FP8/MXFP4 checkpoints; MXFP4 applies to experts only
  const denseB = dtype === 'mxfp4' ? 2 : DTYPE_BYTES[dtype];
  return {
    dense: m.embeddingParams * 2 + nonExpert * denseB,
    experts: m.expertParams * DTYPE_BYTES[dtype],
  };
}

/** FLOPs per (query token, context token) pair in attention, per layer (QK^T + AV). */
export function attnFlopsPerPair(m: ModelProfile): number {
  if (m.mla) return 2 * m.numHeads * (m.mla.kvLoraRank + m.mla.ropeHeadDim + m.mla.kvLoraRank);
  return 4 * m.numHeads * m.headDim;
}

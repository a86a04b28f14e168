/**
 * KV-cache capacity the way vLLM sizes it at startup (per GPU; TP shards weights and KV heads,
 * PP splits the layers, EP with DP spreads the routed experts over every GPU):
 *   num_gpu_blocks = floor((mem * util - weights_per_gpu - activation_peak - non_torch)
 *                          / (block_size * kv_bytes_per_token_per_gpu))
 * The activation peak is the profiling run's peak at max_num_batched_tokens. Calibrated to the
 * two anchors of simulator.md: ~5.5 GiB for a dense 8B at 8192 batched tokens, and the RTX 3090
 * example (8B, 2048 batched tokens, 14.99 GiB weights -> 3.81 GiB KV, 1,952 blocks), giving
 * 1.33 GiB + 4.17 GiB * (tokens / 8192) * (hidden / 4096).
 * Pure and shared: the simulator (`sim/engine-config.ts`, through `sim/capacity.ts`) and the
 * planner (`plan/`) both size memory here.
 */
import { ServelabError } from '../errors.js';
import type { GpuProfile } from './gpus.js';
import { type KvDtype, kvBytesPerToken, type ModelProfile, type WeightDtype, weightBytes } from './models.js';

const GIB = 1024 ** 3;
export const NON_TORCH_GIB = 0.15;

export interface CapacityInput {
  model: ModelProfile;
  gpu: GpuProfile;
  tp?: number;
  /** pipeline stages (vLLM --pipeline-parallel-size): each GPU holds ceil(layers / pp) layers */
  pp?: number;
  /** data-parallel replicas; only changes memory together with enableExpertParallel */
  dp?: number;
  /** vLLM --enable-expert-parallel: routed experts spread over tp * dp GPUs instead of tp */
  enableExpertParallel?: boolean;
  gpuMemoryUtilization?: number;
  maxNumBatchedTokens?: number;
  blockSize?: number;
  weightDtype?: WeightDtype;
  kvCacheDtype?: KvDtype;
  /** tokens per request for the "Maximum concurrency" line; default the model's max context */
  maxModelLen?: number;
}

export interface Capacity {
  weightsGiBPerGpu: number;
  activationGiB: number;
  nonTorchGiB: number;
  kvGiBPerGpu: number;
  kvBytesPerTokenPerGpu: number;
  numGpuBlocks: number;
  kvCapacityTokens: number;
  maxModelLen: number;
  maxConcurrency: number;
  /** the two lines vLLM logs at startup */
  lines: [string, string];
}

/** The whole per-GPU budget, also when it does not fit (the planner shows by how much). */
export interface MemoryPlan extends Capacity {
  /** device memory * gpu_memory_utilization, GiB */
  budgetGiB: number;
  gpuMemoryUtilization: number;
  blockSize: number;
  tp: number;
  pp: number;
  /** weights + activations + non-torch fit under the budget with room for at least one block */
  weightsFit: boolean;
  /** weightsFit and one max_model_len sequence fits in the KV cache (vLLM's startup check) */
  fits: boolean;
  /**
   * GiB per GPU missing: for the weights (budget - weights - activations - non-torch < 0), or for
   * one max_model_len sequence; 0 when it fits
   */
  missGiB: number;
}

/** vLLM's defaults by device memory: 8192 / 1024 on >= 70 GiB GPUs other than A100, else 2048 / 256. */
export function defaultBatchLimits(gpu: GpuProfile): { maxNumBatchedTokens: number; maxNumSeqs: number } {
  const big = gpu.memGiB >= 70 && !gpu.name.startsWith('A100');
  return big
    ? { maxNumBatchedTokens: 8192, maxNumSeqs: 1024 }
    : { maxNumBatchedTokens: 2048, maxNumSeqs: 256 };
}

export function activationPeakGiB(model: ModelProfile, maxNumBatchedTokens: number, tp = 1): number {
  return 1.33 + (4.17 * (maxNumBatchedTokens / 8192) * (model.hidden / 4096)) / Math.sqrt(tp);
}

/**
 * KV bytes per token on one GPU: KV heads split over TP (replicated when TP > KV heads; MLA's
 * latent is replicated on every TP rank), layers split over PP (the largest stage counts).
 */
export function kvBytesPerTokenPerGpu(model: ModelProfile, kvDtype: KvDtype, tp: number, pp = 1): number {
  const shards = model.mla ? 1 : Math.min(tp, model.numKvHeads);
  const perToken = kvBytesPerToken(model, kvDtype) / shards;
  if (pp === 1) return perToken;
  return (perToken * Math.ceil(model.attentionLayers / pp)) / model.attentionLayers;
}

/**
 * Weight bytes on one GPU. PP: the largest stage's share of the layers, plus one of the
 * embedding / lm_head matrices (first and last stage); EP with DP: experts over tp * dp GPUs.
 */
export function weightBytesPerGpu(
  model: ModelProfile,
  dtype: WeightDtype,
  o: { tp: number; pp?: number; dp?: number; enableExpertParallel?: boolean },
): number {
  const wb = weightBytes(model, dtype);
  const pp = o.pp ?? 1;
  const epShards = o.enableExpertParallel ? o.tp * (o.dp ?? 1) : o.tp;
  if (pp === 1) return wb.dense / o.tp + wb.experts / epShards;
  const emb = model.embeddingParams * 2;
  const stage = Math.ceil(model.layers / pp) / model.layers;
  return ((wb.dense - emb) * stage + emb / 2) / o.tp + (wb.experts * stage) / epShards;
}

function positive(name: string, v: number, int: boolean): void {
  if (!(Number.isFinite(v) && v > 0 && (!int || Number.isInteger(v)))) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${name} must be a positive ${int ? 'integer' : 'number'}, got ${v}`,
    );
  }
}

/** The memory budget of one GPU of the deployment, whether or not it fits. */
export function memoryPlan(inp: CapacityInput): MemoryPlan {
  const { model, gpu } = inp;
  const tp = inp.tp ?? 1;
  const pp = inp.pp ?? 1;
  const util = inp.gpuMemoryUtilization ?? 0.9;
  const mnbt = inp.maxNumBatchedTokens ?? defaultBatchLimits(gpu).maxNumBatchedTokens;
  const blockSize = inp.blockSize ?? 16;
  const wd = inp.weightDtype ?? model.defaultWeightDtype;
  const kd = inp.kvCacheDtype ?? 'bf16';
  const maxModelLen = inp.maxModelLen ?? model.maxContext;
  positive('tp', tp, true);
  positive('pp', pp, true);
  positive('dp', inp.dp ?? 1, true);
  positive('maxNumBatchedTokens', mnbt, true);
  positive('blockSize', blockSize, true);
  positive('maxModelLen', maxModelLen, true);
  if (!(util > 0 && util <= 1)) {
    throw new ServelabError('BAD_CONFIG', `gpu_memory_utilization must be in (0, 1], got ${util}`);
  }
  const weightsGiB =
    weightBytesPerGpu(model, wd, {
      tp,
      pp,
      ...(inp.dp !== undefined ? { dp: inp.dp } : {}),
      ...(inp.enableExpertParallel !== undefined ? { enableExpertParallel: inp.enableExpertParallel } : {}),
    }) / GIB;
  const act = activationPeakGiB(model, mnbt, tp);
  const budget = gpu.memGiB * util;
  const kvGiB = budget - weightsGiB - act - NON_TORCH_GIB;
  const kvbpt = kvBytesPerTokenPerGpu(model, kd, tp, pp);
  const numGpuBlocks = kvGiB > 0 ? Math.floor((kvGiB * GIB) / (blockSize * kvbpt)) : 0;
  const kvCapacityTokens = numGpuBlocks * blockSize;
  const maxConcurrency = kvCapacityTokens / maxModelLen;
  const weightsFit = numGpuBlocks > 0;
  // vLLM refuses to start when one max_model_len sequence does not fit in (blocks - 1) blocks
  const fits = weightsFit && maxModelLen <= (numGpuBlocks - 1) * blockSize;
  const needKvGiB = ((Math.ceil(maxModelLen / blockSize) + 1) * blockSize * kvbpt) / GIB;
  const missGiB = fits ? 0 : kvGiB <= 0 ? -kvGiB + needKvGiB : Math.max(0, needKvGiB - kvGiB);
  return {
    weightsGiBPerGpu: weightsGiB,
    activationGiB: act,
    nonTorchGiB: NON_TORCH_GIB,
    kvGiBPerGpu: kvGiB,
    kvBytesPerTokenPerGpu: kvbpt,
    numGpuBlocks,
    kvCapacityTokens,
    maxModelLen,
    maxConcurrency,
    budgetGiB: budget,
    gpuMemoryUtilization: util,
    blockSize,
    tp,
    pp,
    weightsFit,
    fits,
    missGiB,
    lines: [
      `GPU KV cache size: ${kvCapacityTokens.toLocaleString('en-US')} tokens`,
      `Maximum concurrency for ${maxModelLen.toLocaleString('en-US')} tokens per request: ${maxConcurrency.toFixed(2)}x`,
    ],
  };
}

/** The simulator's sizing: memoryPlan, and a clear error when the weights do not fit. */
export function computeCapacity(inp: CapacityInput): Capacity {
  const p = memoryPlan(inp);
  if (p.kvGiBPerGpu <= 0) {
    const wd = inp.weightDtype ?? inp.model.defaultWeightDtype;
    throw new ServelabError(
      'BAD_CONFIG',
      `${inp.model.name} (${wd}) does not fit on ${p.tp} x ${inp.gpu.name}: ${p.weightsGiBPerGpu.toFixed(2)} GiB weights per GPU + ${p.activationGiB.toFixed(2)} GiB activations > ${p.budgetGiB.toFixed(2)} GiB (gpu_memory_utilization ${p.gpuMemoryUtilization})`,
      { hint: 'use more GPUs (--tp), an FP8 checkpoint, a larger GPU, or a higher gpu_memory_utilization' },
    );
  }
  return {
    weightsGiBPerGpu: p.weightsGiBPerGpu,
    activationGiB: p.activationGiB,
    nonTorchGiB: p.nonTorchGiB,
    kvGiBPerGpu: p.kvGiBPerGpu,
    kvBytesPerTokenPerGpu: p.kvBytesPerTokenPerGpu,
    numGpuBlocks: p.numGpuBlocks,
    kvCapacityTokens: p.kvCapacityTokens,
    maxModelLen: p.maxModelLen,
    maxConcurrency: p.maxConcurrency,
    lines: p.lines,
  };
}

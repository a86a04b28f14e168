/**
 * KV-cache capacity the way vLLM sizes it at startup (per GPU; TP shards weights and KV heads):
 *   num_gpu_blocks = floor((mem * util - weights/tp - activation_peak - non_torch)
 *                          / (block_size * kv_bytes_per_token_per_gpu))
 * The activation peak is the profiling run's peak at max_num_batched_tokens. Calibrated to the
 * two anchors of simulator.md: ~5.5 GiB for a dense 8B at 8192 batched tokens, and the RTX 3090
 * example (8B, 2048 batched tokens, 14.99 GiB weights -> 3.81 GiB KV, 1,952 blocks), giving
 * 1.33 GiB + 4.17 GiB * (tokens / 8192) * (hidden / 4096). Pure: the `plan` module reuses it.
 */
import { ServelabError } from '../errors.js';
import type { GpuProfile } from '../knowledge/gpus.js';
import {
  type KvDtype,
  kvBytesPerToken,
  type ModelProfile,
  type WeightDtype,
  weightBytes,
} from '../knowledge/models.js';

const GIB = 1024 ** 3;
export const NON_TORCH_GIB = 0.15;

export interface CapacityInput {
  model: ModelProfile;
  gpu: GpuProfile;
  tp?: number;
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

export function kvBytesPerTokenPerGpu(model: ModelProfile, kvDtype: KvDtype, tp: number): number {
  const shards = model.mla ? 1 : Math.min(tp, model.numKvHeads);
  return kvBytesPerToken(model, kvDtype) / shards;
}

export function computeCapacity(inp: CapacityInput): Capacity {
  const { model, gpu } = inp;
  const tp = inp.tp ?? 1;
  const util = inp.gpuMemoryUtilization ?? 0.9;
  const mnbt = inp.maxNumBatchedTokens ?? defaultBatchLimits(gpu).maxNumBatchedTokens;
  const blockSize = inp.blockSize ?? 16;
  const wd = inp.weightDtype ?? model.defaultWeightDtype;
  const kd = inp.kvCacheDtype ?? 'bf16';
  const maxModelLen = inp.maxModelLen ?? model.maxContext;
  const wb = weightBytes(model, wd);
  const weightsGiB = (wb.dense + wb.experts) / tp / GIB;
  const act = activationPeakGiB(model, mnbt, tp);
  const budget = gpu.memGiB * util;
  const kvGiB = budget - weightsGiB - act - NON_TORCH_GIB;
  const kvbpt = kvBytesPerTokenPerGpu(model, kd, tp);
  if (kvGiB <= 0) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${model.name} (${wd}) does not fit on ${tp} x ${gpu.name}: ${weightsGiB.toFixed(2)} GiB weights per GPU + ${act.toFixed(2)} GiB activations > ${budget.toFixed(2)} GiB (gpu_memory_utilization ${util})`,
      { hint: 'use more GPUs (--tp), an FP8 checkpoint, a larger GPU, or a higher gpu_memory_utilization' },
    );
  }
  const numGpuBlocks = Math.floor((kvGiB * GIB) / (blockSize * kvbpt));
  const kvCapacityTokens = numGpuBlocks * blockSize;
  const maxConcurrency = kvCapacityTokens / maxModelLen;
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
    lines: [
      `GPU KV cache size: ${kvCapacityTokens.toLocaleString('en-US')} tokens`,
      `Maximum concurrency for ${maxModelLen.toLocaleString('en-US')} tokens per request: ${maxConcurrency.toFixed(2)}x`,
    ],
  };
}

/**
 * Engine options and their resolution to a ResolvedEngineConfig: lookups in the knowledge
 * tables, vLLM's defaults, the KV-capacity math and vLLM's startup check that max_model_len
 * fits in the KV cache.
 */
import { ServelabError } from '../errors.js';
import { type GpuProfile, getGpu } from '../knowledge/gpus.js';
import { getModel, type KvDtype, type ModelProfile, type WeightDtype } from '../knowledge/models.js';
import { type Capacity, computeCapacity, defaultBatchLimits } from './capacity.js';
import type { ResolvedEngineConfig } from './engine-api.js';
import type { ContinuumOptions } from './policy/continuum.js';
import { isPolicyName } from './policy/index.js';
import { POLICY_NAMES } from './policy/types.js';
import type { StepTimeFn } from './step-time.js';

export interface EngineOptions {
  /** model name, HF id or alias (src/knowledge/models.ts), or a profile (e.g. from a config.json) */
  model: string | ModelProfile;
  /** GPU name or alias (src/knowledge/gpus.ts), or a profile */
  gpu: string | GpuProfile;
  tp?: number;
  /** pipeline stages (vLLM --pipeline-parallel-size): KV capacity per GPU holds ceil(layers / pp) layers */
  pp?: number;
  gpuMemoryUtilization?: number;
  /** default: the model's max context (must fit in the KV cache, as vLLM requires) */
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  blockSize?: number;
  enablePrefixCaching?: boolean;
  kvCacheDtype?: KvDtype;
  weightDtype?: WeightDtype;
  /** force the number of KV blocks (tests); skips the memory math */
  numGpuBlocksOverride?: number;
  /** multiply every modelled step time */
  stepTimeScale?: number;
  /** fixed step time in ms instead of the roofline (0: "faster than any client") */
  stepTimeMs?: number;
  /** FP8 GEMM efficiency relative to eta_f (default step-time.ts FP8_GEMM_EFFICIENCY) */
  fp8GemmEfficiency?: number;
  /** custom step-time function (tests, calibration); wins over the options above */
  stepTimeFn?: StepTimeFn;
  /** fast-forward uniform decode steps on a VirtualClock (default true) */
  fastForward?: boolean;
  /** vLLM's --scheduling-policy: 'fcfs' (default), 'priority', or 'continuum' (the Continuum fork) */
  schedulingPolicy?: string;
  /** settings of the continuum policy (ignored by the others) */
  continuum?: ContinuumOptions;
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0)) {
    throw new ServelabError('BAD_CONFIG', `${name} must be a positive integer, got ${v}`);
  }
}

export function resolveEngineConfig(opts: EngineOptions): {
  config: ResolvedEngineConfig;
  model: ModelProfile;
  gpu: GpuProfile;
  capacity: Capacity | undefined;
} {
  const model = typeof opts.model === 'string' ? getModel(opts.model) : opts.model;
  const gpu = typeof opts.gpu === 'string' ? getGpu(opts.gpu) : opts.gpu;
  const tp = opts.tp ?? 1;
  positiveInt('tp', tp);
  positiveInt('pp', opts.pp);
  positiveInt('maxModelLen', opts.maxModelLen);
  positiveInt('maxNumSeqs', opts.maxNumSeqs);
  positiveInt('maxNumBatchedTokens', opts.maxNumBatchedTokens);
  positiveInt('blockSize', opts.blockSize);
  positiveInt('numGpuBlocksOverride', opts.numGpuBlocksOverride);
  const schedulingPolicy = opts.schedulingPolicy ?? 'fcfs';
  if (!isPolicyName(schedulingPolicy)) {
    throw new ServelabError('BAD_CONFIG', `schedulingPolicy '${schedulingPolicy}' is not known`, {
      hint: `use one of: ${POLICY_NAMES.join(', ')}`,
    });
  }
  const ct = opts.continuum;
  if (ct !== undefined) {
    for (const k of ['ttlS', 'thresholdS', 'eta'] as const) {
      const v = ct[k];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
        throw new ServelabError('BAD_CONFIG', `continuum.${k} must be a number >= 0, got ${v}`);
      }
    }
    if (ct.parser !== undefined && ct.parser !== 'hermes' && ct.parser !== 'bashOnly') {
      throw new ServelabError('BAD_CONFIG', `continuum.parser '${ct.parser}' is not known`, {
        hint: "use 'hermes' (the fork after 2026-01-13) or 'bashOnly' (before)",
      });
    }
    if (ct.ttlRule !== undefined && ct.ttlRule !== 'public' && ct.ttlRule !== 'paper') {
      throw new ServelabError('BAD_CONFIG', `continuum.ttlRule '${ct.ttlRule}' is not known`, {
        hint: "use 'public' (the released code's 2 s rule) or 'paper'",
      });
    }
  }
  const util = opts.gpuMemoryUtilization ?? 0.9;
  if (!(util > 0 && util <= 1)) {
    throw new ServelabError('BAD_CONFIG', `gpuMemoryUtilization must be in (0, 1], got ${util}`);
  }
  const defaults = defaultBatchLimits(gpu);
  const maxNumBatchedTokens = opts.maxNumBatchedTokens ?? defaults.maxNumBatchedTokens;
  const maxNumSeqs = opts.maxNumSeqs ?? defaults.maxNumSeqs;
  const blockSize = opts.blockSize ?? 16;
  const weightDtype = opts.weightDtype ?? model.defaultWeightDtype;
  const kvCacheDtype = opts.kvCacheDtype ?? 'bf16';
  const maxModelLen = opts.maxModelLen ?? model.maxContext;
  let capacity: Capacity | undefined;
  let numGpuBlocks: number;
  if (opts.numGpuBlocksOverride !== undefined) {
    numGpuBlocks = opts.numGpuBlocksOverride;
  } else {
    capacity = computeCapacity({
      model,
      gpu,
      tp,
      ...(opts.pp !== undefined ? { pp: opts.pp } : {}),
      gpuMemoryUtilization: util,
      maxNumBatchedTokens,
      blockSize,
      weightDtype,
      kvCacheDtype,
      maxModelLen,
    });
    numGpuBlocks = capacity.numGpuBlocks;
  }
  const kvCapacityTokens = numGpuBlocks * blockSize;
  if (maxModelLen > (numGpuBlocks - 1) * blockSize) {
    throw new ServelabError(
      'BAD_CONFIG',
      `The model's max seq len (${maxModelLen}) is larger than the maximum number of tokens that can be stored in KV cache (${(numGpuBlocks - 1) * blockSize}).`,
      {
        hint: 'Try increasing gpu_memory_utilization or decreasing max_model_len when initializing the engine.',
      },
    );
  }
  return {
    model,
    gpu,
    capacity,
    config: {
      model: model.name,
      gpu: gpu.name,
      tp,
      blockSize,
      numGpuBlocks,
      kvCapacityTokens,
      maxModelLen,
      maxNumSeqs,
      maxNumBatchedTokens,
      schedulingPolicy,
      gpuMemoryUtilization: util,
      enablePrefixCaching: opts.enablePrefixCaching ?? true,
      kvCacheDtype,
      weightDtype,
    },
  };
}

/**
 * What the simulator's own model predicts for a closed-loop ramp (bench/scenarios.ts compares
 * it with the knee the ramp finds). Steady state at concurrency c with prompts of I and outputs
 * of O tokens: the running batch B = min(c, max_num_seqs, KV tokens / (I + O/2)) (the mean
 * context of a request over its life); each step decodes B tokens, and B / O prompts of I
 * tokens are prefilled per step: when B / O <= 1 a share B / O of the steps carries one whole
 * prompt (chunked at max_num_batched_tokens) and the rest decode only; above 1 every step
 * carries B / O prompts. The mean step time is the roofline time (src/sim/step-time.ts) of
 * those steps averaged (not the time of the averaged step: the roofline is convex);
 * output tok/s = B / mean step time.
 * The knee is then called by the same rule as the measured ramp (analysis/knee.ts).
 */
import { findKnee, type KneeOptions, type KneeResult } from '../../analysis/knee.js';
import type { KvDtype, WeightDtype } from '../../knowledge/models.js';
import type { SimEngine } from '../../sim/engine.js';
import { makeStepTime } from '../../sim/step-time.js';

export interface PredictedLevel {
  concurrency: number;
  batch: number;
  /** what bounds the batch */
  bound: 'concurrency' | 'max_num_seqs' | 'kv_cache';
  tokensPerStep: number;
  stepMs: number;
  outputTokensPerS: number;
}

export function predictClosedLoop(
  engine: Pick<SimEngine, 'config' | 'model' | 'gpuProfile'>,
  concurrencies: readonly number[],
  promptTokens: number,
  outputTokens: number,
): PredictedLevel[] {
  const cfg = engine.config;
  const step = makeStepTime({
    model: engine.model,
    gpu: engine.gpuProfile,
    tp: cfg.tp,
    weightDtype: cfg.weightDtype as WeightDtype,
    kvCacheDtype: cfg.kvCacheDtype as KvDtype,
  });
  const I = promptTokens;
  const O = outputTokens;
  const kvBatch = Math.floor(cfg.kvCapacityTokens / (I + O / 2));
  return concurrencies.map((c) => {
    let batch = c;
    let bound: PredictedLevel['bound'] = 'concurrency';
    if (cfg.maxNumSeqs < batch) {
      batch = cfg.maxNumSeqs;
      bound = 'max_num_seqs';
    }
    if (kvBatch < batch) {
      batch = kvBatch;
      bound = 'kv_cache';
    }
    const ctx = I + O / 2;
    const decodeKv = batch * ctx;
    const decodeAttn = batch * (2 * ctx + 1);
    const perStep = batch / O;
    const withPrompts = (k: number) => {
      const t = Math.min(cfg.maxNumBatchedTokens, batch + k * I);
      const q = t - batch;
      return step(t, batch, batch, decodeKv + q, decodeAttn + (k > 0 ? (q * q) / k : 0));
    };
    const stepMs =
      perStep <= 1 ? perStep * withPrompts(1) + (1 - perStep) * withPrompts(0) : withPrompts(perStep);
    const tokens = batch + perStep * I;
    return {
      concurrency: c,
      batch,
      bound,
      tokensPerStep: tokens,
      stepMs,
      outputTokensPerS: (batch / stepMs) * 1000,
    };
  });
}

export function predictedKnee(levels: readonly PredictedLevel[], o: KneeOptions = {}): KneeResult {
  return findKnee(
    levels.map((l) => ({
      load: l.concurrency,
      label: `c=${l.concurrency}`,
      outputTokensPerS: l.outputTokensPerS,
      requestsPerS: 0,
    })),
    o,
  );
}

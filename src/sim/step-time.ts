/**
 * The analytical step time: a roofline per operator group, summed (simulator.md's formula with
 * its single max split in two, see below):
 *   t_lin  = max((2 * P_lin * T + 2 * V * d * n_s) / F_lin, W / B)         GEMMs + lm_head
 *   t_attn = max(sum_r A * L * q_r * (c_r + q_r / 2) / F_bf16, kvb * sum_r (c_r + q_r) / B)
 *   t_step = t_lin + t_attn + t0 + t_r * |batch|        (F = peak * eta_f, B = peak * eta_b)
 * A = 4 * heads * head_dim (QK^T + AV; MLA: 2 * heads * (2 * lora + rope)), L = attention layers.
 * Why per operator: a vLLM step runs each layer's GEMMs over the concatenated prefill + decode
 * tokens and then the attention kernel over the same batch, one after the other on the stream;
 * a memory-bound attention (the decodes' KV reads) cannot hide behind a compute-bound GEMM that
 * is not running at the same time. The single max(FLOPs, Bytes) over the step's SUM assumed
 * they overlap perfectly: in a mixed step of a 2048-token budget the decodes' KV reads (and the
 * weight read) were then free, so the smallest budget, which mixes the most decodes into
 * compute-bound prefill steps, won on throughput (docs/BENCHMARKS.md "memory_batch sweep").
 * The same split is InferSim's (per-component roofline, summed over layers) and BLIS's
 * "GEMM(total batch) + prefill attention + decode attention" for mixed batches. Steps where
 * one group dominates (a batch-1 decode: weights; a prefill: GEMM FLOPs) are unchanged; a large
 * decode batch near the ridge pays both (Llama-3.1-8B, H100, 256 x 1k context: 7.8 ms of GEMMs
 * + 12.8 ms of KV reads, where the single max gave 18.8 ms).
 * MoE: P_lin counts the active experts (FLOPs); bytes count the expert weights the step touches:
 * with T tokens each routed to k of E experts uniformly, E * (1 - (1 - k/E)^T) distinct experts
 * per layer are read.
 * FP8 weights on GPUs with FP8 tensor cores run the linear FLOPs at the FP8 rate times
 * FP8_GEMM_EFFICIENCY (vLLM's FP8 path quantizes activations per step and its FP8 GEMMs reach a
 * lower fraction of their 2x peak: published vLLM FP8 throughput is ~1.4-1.5x BF16 on both the
 * RTX 5090 and the H100, not 2x); attention and the lm_head stay at the BF16 rate. MXFP4
 * experts are computed at the BF16 rate.
 * Tensor parallel N: each GPU does 1/N of FLOPs and bytes (KV heads are split; MLA latent and
 * KV heads < N are replicated), plus 2 all-reduces per layer of T * d BF16 values:
 *   t_comm = 2 * L * (allReduceUs + 2 (N-1)/N * T * d * 2 B / link bandwidth).
 *
 * The step is summarised by integer aggregates so that the single-step path and the virtual
 * clock's fast-forward compute bit-identical times from the same inputs.
 */
import type { GpuProfile } from '../knowledge/gpus.js';
import {
  activeLinearParams,
  attnFlopsPerPair,
  type KvDtype,
  kvBytesPerToken,
  type ModelProfile,
  type WeightDtype,
  weightBytes,
} from '../knowledge/models.js';

/** fraction of the FP8 peak reached relative to eta_f (calibrated: FP8 ~1.4x BF16, see above) */
export const FP8_GEMM_EFFICIENCY = 0.7;

export interface StepTimeParams {
  model: ModelProfile;
  gpu: GpuProfile;
  tp: number;
  weightDtype: WeightDtype;
  kvCacheDtype: KvDtype;
  /** multiply every step time (calibration, slow-motion) */
  scale?: number;
  /** fixed step time in ms instead of the model (0 = "faster than any client") */
  fixedMs?: number;
  /** override FP8_GEMM_EFFICIENCY (e.g. to model an engine with faster FP8 kernels) */
  fp8GemmEfficiency?: number;
}

/**
 * Step time in ms from the batch aggregates:
 * tokens T, sampling requests n_s, batch size, sumKv = sum_r (c_r + q_r),
 * sumAttn2 = sum_r (2 q_r c_r + q_r^2)  (= 2 * sum_r q_r (c_r + q_r / 2), an integer).
 */
export type StepTimeFn = (
  tokens: number,
  sampling: number,
  batch: number,
  sumKv: number,
  sumAttn2: number,
) => number;

export function makeStepTime(p: StepTimeParams): StepTimeFn {
  const scale = p.scale ?? 1;
  if (p.fixedMs !== undefined) {
    const fixed = p.fixedMs * scale;
    return () => fixed;
  }
  const { model: m, gpu: g, tp } = p;
  const pLin = activeLinearParams(m);
  const wb = weightBytes(m, p.weightDtype);
  const fp8Linear = p.weightDtype === 'fp8' && g.fp8Tflops !== undefined;
  const fLin = fp8Linear
    ? g.fp8Tflops! * 1e12 * g.etaF * (p.fp8GemmEfficiency ?? FP8_GEMM_EFFICIENCY)
    : g.bf16Tflops * 1e12 * g.etaF;
  const fBf16 = g.bf16Tflops * 1e12 * g.etaF;
  const bw = g.memTBs * 1e12 * g.etaB;
  // per-GPU KV bytes per token: heads split over TP unless replicated
  const kvTotal = kvBytesPerToken(m, p.kvCacheDtype);
  const kvShards = m.mla ? 1 : Math.min(tp, m.numKvHeads);
  const kvbPerGpu = kvTotal / kvShards;
  const attnPerPair = attnFlopsPerPair(m) * m.attentionLayers;
  const lmHead = 2 * m.vocab * m.hidden;
  const E = m.numExperts;
  const keep = E > 0 ? 1 - m.topK / E : 0;
  const t0 = g.t0Ms;
  const tr = g.trUs / 1000;
  const commFixedMs = tp > 1 ? (2 * m.layers * g.allReduceUs) / 1000 : 0;
  const commPerTokenMs =
    tp > 1 ? ((2 * m.layers * ((2 * (tp - 1)) / tp) * m.hidden * 2) / (g.linkGBs * 1e9)) * 1000 : 0;
  return (tokens, sampling, batch, sumKv, sumAttn2) => {
    if (batch === 0) return 0;
    // GEMMs (and the lm_head): FLOPs against the weight read
    const linComputeMs = (((2 * pLin * tokens) / fLin + (lmHead * sampling) / fBf16) / tp) * 1000;
    let wBytes = wb.dense;
    if (E > 0) wBytes += wb.experts * (1 - keep ** tokens);
    const linMemMs = (wBytes / tp / bw) * 1000;
    // attention: FLOPs against the KV read
    const attnComputeMs = ((attnPerPair * sumAttn2 * 0.5) / fBf16 / tp) * 1000;
    const attnMemMs = ((kvbPerGpu * sumKv) / bw) * 1000;
    const comm = tp > 1 ? commFixedMs + commPerTokenMs * tokens : 0;
    const lin = linComputeMs > linMemMs ? linComputeMs : linMemMs;
    const attn = attnComputeMs > attnMemMs ? attnComputeMs : attnMemMs;
    return (lin + attn + t0 + tr * batch + comm) * scale;
  };
}

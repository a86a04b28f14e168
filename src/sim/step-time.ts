/**
 * The analytical roofline step time of simulator.md:
 *   FLOPs  = 2 * P_lin * T + 2 * V * d * n_s + sum_r A * L * q_r * (c_r + q_r / 2)
 *   Bytes  = W + kvb * sum_r (c_r + q_r)
 *   t_step = max(FLOPs / (F * eta_f), Bytes / (B * eta_b)) + t0 + t_r * |batch|
 * A = 4 * heads * head_dim (QK^T + AV; MLA: 2 * heads * (2 * lora + rope)), L = attention layers.
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
    const linFlops = 2 * pLin * tokens;
    const otherFlops = lmHead * sampling + attnPerPair * sumAttn2 * 0.5;
    const computeMs = ((linFlops / fLin + otherFlops / fBf16) / tp) * 1000;
    let wBytes = wb.dense;
    if (E > 0) wBytes += wb.experts * (1 - keep ** tokens);
    const bytes = wBytes / tp + kvbPerGpu * sumKv;
    const memMs = (bytes / bw) * 1000;
    const comm = tp > 1 ? commFixedMs + commPerTokenMs * tokens : 0;
    return (Math.max(computeMs, memMs) + t0 + tr * batch + comm) * scale;
  };
}

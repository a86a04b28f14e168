/**
 * GPU profiles for the simulator's roofline step-time model and the KV-capacity math.
 * Peak figures are vendor dense (no sparsity) numbers; efficiencies and overheads follow
 * docs/reference simulator.md (H100 eta_f 0.45-0.55 -> 0.5, eta_b 0.8, t0 ~1 ms, t_r ~4 us).
 * `memGiB` is what torch reports as total device memory (slightly below the marketing size).
 */
import { ServelabError } from '../errors.js';

export interface GpuProfile {
  name: string;
  aliases: readonly string[];
  /** total device memory as torch.cuda.mem_get_info reports it, GiB */
  memGiB: number;
  /** dense BF16 tensor throughput, TFLOP/s */
  bf16Tflops: number;
  /** dense FP8 tensor throughput, TFLOP/s; undefined where there are no FP8 tensor cores (A100, RTX 3090) */
  fp8Tflops?: number;
  /** HBM/GDDR bandwidth, TB/s */
  memTBs: number;
  /** achieved fraction of peak FLOP/s */
  etaF: number;
  /** achieved fraction of peak bandwidth */
  etaB: number;
  /** fixed per-step overhead (scheduler, launch, sampling), ms */
  t0Ms: number;
  /** per-request per-step overhead, us */
  trUs: number;
  /** GPU-to-GPU all-reduce bandwidth per direction for tensor parallel, GB/s */
  linkGBs: number;
  /** latency of one small all-reduce, us */
  allReduceUs: number;
}

export const GPUS: readonly GpuProfile[] = [
  {
    name: 'H100-SXM-80GB',
    aliases: ['h100', 'h100-sxm', 'h100-80gb', 'h100 80gb hbm3', 'nvidia h100 80gb hbm3'],
    memGiB: 79.19,
    bf16Tflops: 989,
    fp8Tflops: 1979,
    memTBs: 3.35,
    etaF: 0.5,
    etaB: 0.8,
    t0Ms: 1,
    trUs: 4,
    linkGBs: 450,
    allReduceUs: 6,
  },
  {
    name: 'H100-NVL-94GB',
    aliases: ['h100-nvl', 'h100 nvl', 'nvidia h100 nvl'],
    memGiB: 93.1,
    bf16Tflops: 835,
    fp8Tflops: 1670,
    memTBs: 3.9,
    etaF: 0.5,
    etaB: 0.8,
    t0Ms: 1,
    trUs: 4,
    linkGBs: 300,
    allReduceUs: 8,
  },
  {
    name: 'H200-141GB',
    aliases: ['h200', 'h200-sxm', 'nvidia h200'],
    memGiB: 139.8,
    bf16Tflops: 989,
    fp8Tflops: 1979,
    memTBs: 4.8,
    etaF: 0.5,
    etaB: 0.8,
    t0Ms: 1,
    trUs: 4,
    linkGBs: 450,
    allReduceUs: 6,
  },
  {
    name: 'A100-80GB',
    aliases: ['a100', 'a100-sxm-80gb', 'a100 80gb', 'nvidia a100-sxm4-80gb'],
    memGiB: 79.15,
    bf16Tflops: 312,
    memTBs: 2.039,
    etaF: 0.5,
    etaB: 0.8,
    t0Ms: 1,
    trUs: 4,
    linkGBs: 300,
    allReduceUs: 8,
  },
  {
    name: 'L40S-48GB',
    aliases: ['l40s', 'nvidia l40s'],
    memGiB: 44.39,
    bf16Tflops: 362,
    fp8Tflops: 733,
    memTBs: 0.864,
    etaF: 0.5,
    etaB: 0.8,
    t0Ms: 1,
    trUs: 4,
    // PCIe Gen4, no NVLink
    linkGBs: 25,
    allReduceUs: 25,
  },
  {
    name: 'RTX-5090-32GB',
    aliases: ['rtx5090', 'rtx-5090', '5090', 'geforce rtx 5090', 'nvidia geforce rtx 5090'],
    memGiB: 31.36,
    // GeForce: BF16/FP8 with FP32 accumulate run at half the FP16-accumulate rate
    bf16Tflops: 210,
    fp8Tflops: 419,
    memTBs: 1.79,
    etaF: 0.6,
    etaB: 0.85,
    t0Ms: 1,
    trUs: 4,
    linkGBs: 50,
    allReduceUs: 20,
  },
  {
    name: 'RTX-3090-24GB',
    aliases: ['rtx3090', 'rtx-3090', '3090', 'geforce rtx 3090', 'nvidia geforce rtx 3090'],
    memGiB: 23.69,
    bf16Tflops: 71,
    memTBs: 0.936,
    etaF: 0.6,
    etaB: 0.85,
    t0Ms: 1,
    trUs: 4,
    linkGBs: 25,
    allReduceUs: 25,
  },
];

function norm(s: string): string {
  return s
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
}

const BY_NAME = new Map<string, GpuProfile>();
for (const g of GPUS) {
  BY_NAME.set(norm(g.name), g);
  for (const a of g.aliases) BY_NAME.set(norm(a), g);
}

export function findGpu(name: string): GpuProfile | undefined {
  return BY_NAME.get(norm(name));
}

/** Look a GPU up by name or alias (case-insensitive); unknown -> ServelabError naming the known ones. */
export function getGpu(name: string): GpuProfile {
  const g = findGpu(name);
  if (!g) {
    throw new ServelabError('BAD_CONFIG', `unknown GPU "${name}"`, {
      hint: `known GPUs: ${GPUS.map((x) => x.name).join(', ')}`,
    });
  }
  return g;
}

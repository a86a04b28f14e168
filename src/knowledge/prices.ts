/**
 * On-demand rental prices per GPU-hour, dated and sourced. Prices move weekly and differ by a
 * factor of 2-5 between providers for the same chip; these are one public reference point each,
 * for orders of magnitude. `servelab plan --price GPU=2.59/h` or `--price-file` overrides them.
 * GPUs without a row here have no price: the planner shows "-" and says how to give one.
 */
export interface GpuPrice {
  /** a GpuProfile name (knowledge/gpus.ts) */
  gpu: string;
  usdPerGpuHour: number;
  /** who rents it at that price, and which tier */
  provider: string;
  source: string;
  /** the day the figure was read (YYYY-MM-DD) */
  asOf: string;
}

const RUNPOD_COMMUNITY =
  'RunPod Community Cloud, per-second billing (runpod.io/pricing, as transcribed by datareceipts/data-receipts 109-gpu-pricing/vendors.json)';

export const GPU_PRICES: readonly GpuPrice[] = [
  {
    gpu: 'H100-NVL-94GB',
    usdPerGpuHour: 2.59,
    provider: RUNPOD_COMMUNITY,
    source: 'https://www.runpod.io/pricing',
    asOf: '2026-11-09',
  },
  {
    gpu: 'H100-SXM-80GB',
    usdPerGpuHour: 2.69,
    provider: RUNPOD_COMMUNITY,
    source: 'https://www.runpod.io/pricing',
    asOf: '2026-11-09',
  },
  {
    gpu: 'A100-80GB',
    usdPerGpuHour: 1.39,
    provider: RUNPOD_COMMUNITY,
    source: 'https://www.runpod.io/pricing',
    asOf: '2026-11-09',
  },
  {
    gpu: 'H200-141GB',
    usdPerGpuHour: 4.59,
    provider:
      'RunPod Pods (runpod.io/pricing, as transcribed by api-evangelist/runpod plans/runpod-plans-pricing.yml)',
    source: 'https://www.runpod.io/pricing',
    asOf: '2026-10-07',
  },
];

export function findGpuPrice(gpuName: string): GpuPrice | undefined {
  return GPU_PRICES.find((p) => p.gpu === gpuName);
}

/**
 * What the service records for /metrics beyond the engine's own counters: vLLM's histograms
 * (with vLLM's bucket boundaries) and the sim-only count of extra top-level request fields.
 * The hot path only bumps arrays; the text is rendered on scrape (server/metrics-page.ts).
 */

/** vLLM V1 bucket boundaries (vllm/v1/metrics/loggers.py, 0.11). */
export const BUCKETS = {
  ttftSec: [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
    80.0, 160.0, 640.0, 2560.0,
  ],
  itlSec: [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
  ],
  requestSec: [
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
    960.0, 1920.0, 7680.0,
  ],
  iterationTokens: [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
} as const;

/** vLLM's build_1_2_5_buckets(max_value): 1, 2, 5, 10, 20, 50, ... <= max_value */
export function buckets125(maxValue: number): number[] {
  const out: number[] = [];
  for (let exp = 0; ; exp++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** exp;
      if (v > maxValue) return out;
      out.push(v);
    }
  }
}

export class Histogram {
  /** non-cumulative counts; the last slot is +Inf */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(v: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]! += 1;
    this.sum += v;
    this.count += 1;
  }
}

export class SimMetrics {
  /** unix seconds of creation (the `_created` samples) */
  readonly createdSec = Date.now() / 1000;
  readonly ttft = new Histogram(BUCKETS.ttftSec);
  readonly itl = new Histogram(BUCKETS.itlSec);
  readonly tpot = new Histogram(BUCKETS.itlSec);
  readonly e2e = new Histogram(BUCKETS.requestSec);
  readonly queue = new Histogram(BUCKETS.requestSec);
  readonly prefill = new Histogram(BUCKETS.requestSec);
  readonly decode = new Histogram(BUCKETS.requestSec);
  readonly inference = new Histogram(BUCKETS.requestSec);
  readonly iterationTokens = new Histogram(BUCKETS.iterationTokens);
  readonly promptTokens: Histogram;
  readonly generationTokens: Histogram;
  readonly maxTokensParam: Histogram;
  /** sim-only: extra top-level request fields seen, by name (vLLM ignores them) */
  readonly extraFields = new Map<string, number>();
  /** sim-only: faults injected, by kind */
  readonly faults = new Map<string, number>();

  constructor(maxModelLen: number) {
    const b = buckets125(maxModelLen);
    this.promptTokens = new Histogram(b);
    this.generationTokens = new Histogram(b);
    this.maxTokensParam = new Histogram(b);
  }

  countExtraField(name: string): void {
    this.extraFields.set(name, (this.extraFields.get(name) ?? 0) + 1);
  }

  countFault(kind: string): void {
    this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
  }
}

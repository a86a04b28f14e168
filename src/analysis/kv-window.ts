/**
 * The users' "active window": from the first KV-usage sample above a threshold to the last
 * one above it, on one port. Pure; samples come from kv_timeseries.csv.
 */

export interface KvSample {
  tsMs: number;
  port: number;
  metric: string;
  value: number;
}

/** KV usage (0-1 fraction) across vLLM versions: the new name first. */
export const KV_USAGE_METRICS = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'] as const;

export function isKvUsageMetric(metric: string): boolean {
  const base = metric.split('{')[0]!;
  return (KV_USAGE_METRICS as readonly string[]).includes(base);
}

export type PortSource = 'flag' | 'orchestratorPort' | 'most-sampled' | 'none';

export interface ActiveWindow {
  threshold: number;
  port: number | null;
  portSource: PortSource;
  /** KV samples on the chosen port */
  samples: number;
  samplesAbove: number;
  /** samples that came earlier than the one before them in the file (they are sorted first) */
  outOfOrder: number;
  medianIntervalS: number | null;
  maxGapS: number | null;
  /** gaps longer than 3x the median interval: the window edges may be off by up to maxGapS */
  longGaps: number;
  /** samples at or below the threshold between the window's ends */
  dipsInside: number;
  /** 'ok': a window with a duration; 'zero-length': one sample above (no rate); 'never-above'; 'no-samples' */
  status: 'ok' | 'zero-length' | 'never-above' | 'no-samples';
  startMs: number | null;
  endMs: number | null;
  peakValue: number | null;
  /** values above 1 mean the file holds percents, not fractions */
  valuesAboveOne: number;
}

export interface ActiveWindowOptions {
  threshold?: number;
  /** a port given by the user wins */
  port?: number;
  /** the orchestrator's port from cell.json */
  orchestratorPort?: number;
}

/** Chooses the port: the user's, else the orchestrator's (if it was sampled), else the most sampled. */
export function choosePort(
  samples: readonly KvSample[],
  opts: ActiveWindowOptions,
): { port: number | null; source: PortSource } {
  if (opts.port !== undefined) return { port: opts.port, source: 'flag' };
  const counts = new Map<number, number>();
  for (const s of samples) if (isKvUsageMetric(s.metric)) counts.set(s.port, (counts.get(s.port) ?? 0) + 1);
  if (opts.orchestratorPort !== undefined && counts.has(opts.orchestratorPort))
    return { port: opts.orchestratorPort, source: 'orchestratorPort' };
  let best: number | null = null;
  let bestN = 0;
  for (const [p, n] of [...counts].sort((a, b) => a[0] - b[0])) {
    if (n > bestN) {
      best = p;
      bestN = n;
    }
  }
  if (best === null && opts.orchestratorPort !== undefined)
    return { port: opts.orchestratorPort, source: 'orchestratorPort' };
  return { port: best, source: best === null ? 'none' : 'most-sampled' };
}

/** KV samples of one port, sorted by time, with how many were out of order in the input. */
export function kvSeries(
  samples: readonly KvSample[],
  port: number | null,
): { series: KvSample[]; outOfOrder: number } {
  const series: KvSample[] = [];
  let outOfOrder = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of samples) {
    if (s.port !== port || !isKvUsageMetric(s.metric) || !Number.isFinite(s.value)) continue;
    if (s.tsMs < last) outOfOrder++;
    else last = s.tsMs;
    series.push(s);
  }
  if (outOfOrder) series.sort((a, b) => a.tsMs - b.tsMs);
  return { series, outOfOrder };
}

export function activeWindow(samples: readonly KvSample[], opts: ActiveWindowOptions = {}): ActiveWindow {
  const threshold = opts.threshold ?? 0.7;
  const { port, source } = choosePort(samples, opts);
  const { series, outOfOrder } = kvSeries(samples, port);
  const gaps: number[] = [];
  for (let i = 1; i < series.length; i++) gaps.push(series[i]!.tsMs - series[i - 1]!.tsMs);
  gaps.sort((a, b) => a - b);
  const median = gaps.length ? gaps[Math.floor((gaps.length - 1) / 2)]! : null;
  const maxGap = gaps.length ? gaps[gaps.length - 1]! : null;
  const longGaps = median !== null && median > 0 ? gaps.filter((g) => g > 3 * median).length : 0;
  let first = -1;
  let last = -1;
  let above = 0;
  let peak: number | null = null;
  let valuesAboveOne = 0;
  for (let i = 0; i < series.length; i++) {
    const v = series[i]!.value;
    if (peak === null || v > peak) peak = v;
    if (v > 1) valuesAboveOne++;
    if (v > threshold) {
      above++;
      if (first < 0) first = i;
      last = i;
    }
  }
  let dipsInside = 0;
  for (let i = first + 1; first >= 0 && i < last; i++) if (series[i]!.value <= threshold) dipsInside++;
  const base = {
    threshold,
    port,
    portSource: source,
    samples: series.length,
    samplesAbove: above,
    outOfOrder,
    medianIntervalS: median === null ? null : median / 1000,
    maxGapS: maxGap === null ? null : maxGap / 1000,
    longGaps,
    dipsInside,
    peakValue: peak,
    valuesAboveOne,
  };
  if (series.length === 0) return { ...base, status: 'no-samples', startMs: null, endMs: null };
  if (first < 0) return { ...base, status: 'never-above', startMs: null, endMs: null };
  const startMs = series[first]!.tsMs;
  const endMs = series[last]!.tsMs;
  return { ...base, status: endMs > startMs ? 'ok' : 'zero-length', startMs, endMs };
}

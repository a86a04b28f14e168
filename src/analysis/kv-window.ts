/**
 * The users' "active window": from the first KV-usage sample above a threshold to the last
 * one above it, on one port. Pure; samples come from kv_timeseries.csv.
 *
 * A port with several engines (vLLM data parallel behind one port) has one row per engine
 * (`vllm:kv_cache_usage_perc{engine="1"}`) beside the port's combined row (the bare name: used /
 * total blocks). Which series the window reads is a choice ({@link KvEngineChoice}); the default
 * is the max over engines, so one full engine next to an idle one is not averaged away.
 */

export interface KvSample {
  tsMs: number;
  port: number;
  metric: string;
  value: number;
}

/** KV usage (0-1 fraction) across vLLM versions: the new name first. */
/** KV usage (0-1 fractions) as the sampler writes it: vLLM V1, vLLM V0, SGLang's token-pool usage. */
export const KV_USAGE_METRICS = [
  'vllm:kv_cache_usage_perc',
  'vllm:gpu_cache_usage_perc',
  'sglang:token_usage',
] as const;

export function isKvUsageMetric(metric: string): boolean {
  const base = metric.split('{')[0]!;
  return (KV_USAGE_METRICS as readonly string[]).includes(base);
}

/**
 * Which KV series of a port the window reads: 'max' (per tick, the fullest engine; default),
 * 'combined' (the port's bare-name row: used / total blocks), or one engine's number. A port
 * without per-engine rows (one engine, or a file from before they were written) has only the
 * bare row: 'max' and engine 0 read it; another engine number finds no samples.
 */
export type KvEngineChoice = 'max' | 'combined' | number;

export const DEFAULT_KV_ENGINE: KvEngineChoice = 'max';

/** The engine of a per-engine row (`name{engine="1"}`, SGLang `{dp_rank="1"}`); undefined for a combined row. */
export function kvEngineOf(metric: string): string | undefined {
  const m = /\{(?:engine|dp_rank)="([^"]*)"\}$/.exec(metric);
  return m ? m[1] : undefined;
}

/** Parses --kv-engine: combined, max or an engine number; undefined when it is none of these. */
export function parseKvEngine(text: string): KvEngineChoice | undefined {
  const t = text.trim();
  if (t === 'max' || t === 'combined') return t;
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

export interface KvEngineUsed {
  /** what was asked for */
  asked: KvEngineChoice;
  /** the series read: 'combined' also when the port has no per-engine rows */
  used: KvEngineChoice;
  /** the engines with rows on the chosen port (empty: one engine, or an older file) */
  engines: string[];
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
  /** the series had values above 1 and none above 100: read as percents, divided by 100 */
  percentScaled: boolean;
  /** which of the port's KV series the window was computed from */
  engine: KvEngineUsed;
}

export interface ActiveWindowOptions {
  threshold?: number;
  /** a port given by the user wins */
  port?: number;
  /** the orchestrator's port from cell.json */
  orchestratorPort?: number;
  /** default {@link DEFAULT_KV_ENGINE} */
  engine?: KvEngineChoice;
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

/**
 * KV samples of one port, sorted by time, with how many were out of order in the input, read as
 * `engine` says (default {@link DEFAULT_KV_ENGINE}).
 */
export function kvSeries(
  samples: readonly KvSample[],
  port: number | null,
  engine: KvEngineChoice = DEFAULT_KV_ENGINE,
): { series: KvSample[]; outOfOrder: number; engine: KvEngineUsed } {
  const combined: KvSample[] = [];
  const perEngine: KvSample[] = [];
  const engines = new Set<string>();
  for (const s of samples) {
    if (s.port !== port || !isKvUsageMetric(s.metric) || !Number.isFinite(s.value)) continue;
    const e = kvEngineOf(s.metric);
    if (e === undefined) combined.push(s);
    else {
      engines.add(e);
      perEngine.push(s);
    }
  }
  const engineList = [...engines].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  let used: KvEngineChoice = engine;
  let picked: KvSample[];
  if (engine === 'combined' || (engines.size === 0 && (engine === 'max' || engine === 0))) {
    used = 'combined';
    picked = combined;
  } else if (engine === 'max') {
    // per tick (the rows of one scrape share their timestamp), the fullest engine
    const byTs = new Map<number, KvSample>();
    for (const s of perEngine) {
      const prev = byTs.get(s.tsMs);
      if (!prev || s.value > prev.value) byTs.set(s.tsMs, s);
    }
    picked = [...byTs.values()];
  } else picked = perEngine.filter((s) => kvEngineOf(s.metric) === String(engine));
  const series: KvSample[] = [];
  let outOfOrder = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of picked) {
    if (s.tsMs < last) outOfOrder++;
    else last = s.tsMs;
    series.push(s);
  }
  if (outOfOrder) series.sort((a, b) => a.tsMs - b.tsMs);
  return { series, outOfOrder, engine: { asked: engine, used, engines: engineList } };
}

export function activeWindow(samples: readonly KvSample[], opts: ActiveWindowOptions = {}): ActiveWindow {
  const threshold = opts.threshold ?? 0.7;
  const { port, source } = choosePort(samples, opts);
  const { series, outOfOrder, engine } = kvSeries(samples, port, opts.engine ?? DEFAULT_KV_ENGINE);
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
  // KV usage is a 0-1 fraction; a series with values above 1 (and none above 100) was written
  // in percents (another exporter, a hand-made file): read it as percents / 100, and say so
  let raw = Number.NEGATIVE_INFINITY;
  for (const x of series) raw = Math.max(raw, x.value);
  const percentScaled = raw > 1 && raw <= 100;
  const scale = percentScaled ? 0.01 : 1;
  for (let i = 0; i < series.length; i++) {
    const v = series[i]!.value * scale;
    if (peak === null || v > peak) peak = v;
    if (series[i]!.value > 1) valuesAboveOne++;
    if (v > threshold) {
      above++;
      if (first < 0) first = i;
      last = i;
    }
  }
  let dipsInside = 0;
  for (let i = first + 1; first >= 0 && i < last; i++)
    if (series[i]!.value * scale <= threshold) dipsInside++;
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
    percentScaled,
    engine,
  };
  if (series.length === 0) return { ...base, status: 'no-samples', startMs: null, endMs: null };
  if (first < 0) return { ...base, status: 'never-above', startMs: null, endMs: null };
  const startMs = series[first]!.tsMs;
  const endMs = series[last]!.tsMs;
  return { ...base, status: endMs > startMs ? 'ok' : 'zero-length', startMs, endMs };
}

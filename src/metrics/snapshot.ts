/**
 * Canonical snapshots of one server's /metrics page: per engine (vLLM's `engine` label, one per
 * data-parallel rank) and combined. Counters are summed across engines and across their other
 * labels; KV usage is combined as a block-weighted mean when every engine reports
 * num_gpu_blocks (vllm:cache_config_info), else as a plain mean; `kvCombine` says which.
 */
import { ServelabError } from '../errors.js';
import {
  formatParseFailure,
  type ParsedPage,
  parsePrometheusText,
  parseValue,
  type Sample,
} from './parse.js';
import {
  type Candidate,
  type CounterKey,
  candidatesFor,
  detectKind,
  familySamples,
  type GaugeKey,
  type HistogramKey,
  REGISTRY,
  type ServerKind,
} from './registry.js';

export interface HistogramData {
  /** cumulative counts per upper bound, ascending; the last bound is +Inf */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export interface CacheConfig {
  blockSize?: number;
  numGpuBlocks?: number;
  gpuMemoryUtilization?: number;
}

export interface EngineMetrics {
  kvUsageFrac?: number;
  running?: number;
  waiting?: number;
  preemptions?: number;
  prefixQueries?: number;
  prefixHits?: number;
  promptTokens?: number;
  generationTokens?: number;
  ttft?: HistogramData;
  itl?: HistogramData;
  e2e?: HistogramData;
  cacheConfig?: CacheConfig;
}

export interface CanonicalSnapshot {
  /** the /metrics URL read */
  url: string;
  kind: ServerKind | 'unknown';
  /** the server's version when known (from /version or the caller) */
  version?: string;
  /** wall-clock time of the read, ms since the epoch */
  fetchedAtUnixMs: number;
  /** per engine label value ("0", "1", ...); one entry "" when the server has no engine label */
  engines: Record<string, EngineMetrics>;
  combined: EngineMetrics;
  /** how combined.kvUsageFrac was formed */
  kvCombine: 'single' | 'block_weighted_mean' | 'mean' | 'none';
  /** canonical key -> the metric name found on the page */
  namesUsed: Partial<Record<GaugeKey | CounterKey | HistogramKey, string>>;
  /** families seen on the page (for "which names does this server have") */
  familyNames: string[];
}

function engineOf(s: Sample, labels: readonly string[]): string {
  for (const l of labels) {
    const v = s.labels[l];
    if (v !== undefined) return v;
  }
  return '';
}

function pick(
  page: ParsedPage,
  list: Candidate[],
  role: 'gauge' | 'counter',
  version?: string,
): { name: string; samples: Sample[] } | undefined {
  for (const c of candidatesFor(list, version)) {
    const samples = familySamples(page, c.name, role);
    if (samples.length > 0) return { name: c.name, samples };
  }
  return undefined;
}

function histogramSamples(page: ParsedPage, list: Candidate[], version?: string) {
  for (const c of candidatesFor(list, version)) {
    const fam = page.families.get(c.name);
    if (fam && fam.samples.length > 0) return { name: c.name, samples: fam.samples };
  }
  return undefined;
}

function addHistogram(h: HistogramData | undefined, s: Sample, base: string): HistogramData {
  const out = h ?? { buckets: [], sum: 0, count: 0 };
  if (s.name === `${base}_sum`) out.sum += s.value;
  else if (s.name === `${base}_count`) out.count += s.value;
  else if (s.name === `${base}_bucket`) {
    const le = parseValue(s.labels.le ?? '') ?? Number.NaN;
    const b = out.buckets.find((x) => x.le === le);
    if (b) b.count += s.value;
    else out.buckets.push({ le, count: s.value });
  }
  return out;
}

/** Builds the canonical view of a parsed page. Pure. */
export function canonicalize(
  page: ParsedPage,
  meta: { url: string; fetchedAtUnixMs: number; kind?: ServerKind; version?: string },
): CanonicalSnapshot {
  const kind = meta.kind ?? detectKind(page);
  const snap: CanonicalSnapshot = {
    url: meta.url,
    kind: kind ?? 'unknown',
    ...(meta.version ? { version: meta.version } : {}),
    fetchedAtUnixMs: meta.fetchedAtUnixMs,
    engines: {},
    combined: {},
    kvCombine: 'none',
    namesUsed: {},
    familyNames: [...page.families.keys()],
  };
  if (!kind) return snap;
  const spec = REGISTRY[kind];
  const eng = (s: Sample): EngineMetrics => {
    const k = engineOf(s, spec.engineLabels);
    snap.engines[k] ??= {};
    return snap.engines[k];
  };
  for (const key of Object.keys(spec.gauges) as GaugeKey[]) {
    const found = pick(page, spec.gauges[key], 'gauge', meta.version);
    if (!found) continue;
    snap.namesUsed[key] = found.name;
    const byEngine = new Map<EngineMetrics, number[]>();
    for (const s of found.samples) {
      const e = eng(s);
      const arr = byEngine.get(e) ?? [];
      arr.push(s.value);
      byEngine.set(e, arr);
    }
    // several series in one engine (other labels): KV usage is averaged, queue lengths summed
    for (const [e, vals] of byEngine) {
      const sum = vals.reduce((a, b) => a + b, 0);
      e[key] = key === 'kvUsageFrac' ? sum / vals.length : sum;
    }
  }
  for (const key of Object.keys(spec.counters) as CounterKey[]) {
    const found = pick(page, spec.counters[key], 'counter', meta.version);
    if (!found) continue;
    snap.namesUsed[key] = found.name;
    for (const s of found.samples) {
      const e = eng(s);
      e[key] = (e[key] ?? 0) + s.value;
    }
  }
  for (const key of Object.keys(spec.histograms) as HistogramKey[]) {
    const found = histogramSamples(page, spec.histograms[key], meta.version);
    if (!found) continue;
    snap.namesUsed[key] = found.name;
    for (const s of found.samples) {
      const e = eng(s);
      e[key] = addHistogram(e[key], s, found.name);
    }
  }
  if (kind === 'vllm') {
    for (const s of page.families.get('vllm:cache_config_info')?.samples ?? []) {
      const num = (k: string) => {
        const v = s.labels[k];
        const n = v === undefined ? Number.NaN : Number(v);
        return Number.isFinite(n) ? n : undefined;
      };
      const cfg: CacheConfig = {};
      const bs = num('block_size');
      const nb = num('num_gpu_blocks');
      const gmu = num('gpu_memory_utilization');
      if (bs !== undefined) cfg.blockSize = bs;
      if (nb !== undefined) cfg.numGpuBlocks = nb;
      if (gmu !== undefined) cfg.gpuMemoryUtilization = gmu;
      eng(s).cacheConfig = cfg;
    }
  }
  for (const e of Object.values(snap.engines)) {
    for (const h of [e.ttft, e.itl, e.e2e]) h?.buckets.sort((a, b) => a.le - b.le);
  }
  combine(snap);
  return snap;
}

function combine(snap: CanonicalSnapshot): void {
  const engines = Object.values(snap.engines);
  const c: EngineMetrics = {};
  for (const key of [
    'running',
    'waiting',
    'preemptions',
    'prefixQueries',
    'prefixHits',
    'promptTokens',
    'generationTokens',
  ] as const) {
    const vals = engines.map((e) => e[key]).filter((v): v is number => v !== undefined);
    if (vals.length > 0) c[key] = vals.reduce((a, b) => a + b, 0);
  }
  for (const key of ['ttft', 'itl', 'e2e'] as const) {
    let acc: HistogramData | undefined;
    for (const e of engines) {
      const h = e[key];
      if (!h) continue;
      acc ??= { buckets: [], sum: 0, count: 0 };
      acc.sum += h.sum;
      acc.count += h.count;
      for (const b of h.buckets) {
        const t = acc.buckets.find((x) => x.le === b.le);
        if (t) t.count += b.count;
        else acc.buckets.push({ ...b });
      }
    }
    if (acc) {
      acc.buckets.sort((a, b) => a.le - b.le);
      c[key] = acc;
    }
  }
  const withKv = engines.filter((e) => e.kvUsageFrac !== undefined);
  if (withKv.length === 1) {
    c.kvUsageFrac = withKv[0]!.kvUsageFrac!;
    snap.kvCombine = 'single';
  } else if (withKv.length > 1) {
    const blocks = withKv.map((e) => e.cacheConfig?.numGpuBlocks);
    if (blocks.every((b): b is number => b !== undefined && b > 0)) {
      const total = blocks.reduce((a, b) => a + b, 0);
      c.kvUsageFrac = withKv.reduce((a, e, i) => a + e.kvUsageFrac! * blocks[i]!, 0) / total;
      snap.kvCombine = 'block_weighted_mean';
    } else {
      c.kvUsageFrac = withKv.reduce((a, e) => a + e.kvUsageFrac!, 0) / withKv.length;
      snap.kvCombine = 'mean';
    }
  }
  const cfgs = engines.map((e) => e.cacheConfig).filter((x): x is CacheConfig => x !== undefined);
  if (cfgs.length > 0) {
    const cfg: CacheConfig = { ...cfgs[0] };
    const nb = cfgs.map((x) => x.numGpuBlocks);
    if (nb.every((b): b is number => b !== undefined)) cfg.numGpuBlocks = nb.reduce((a, b) => a + b, 0);
    c.cacheConfig = cfg;
  }
  snap.combined = c;
}

export interface CounterDelta {
  preemptions?: number;
  prefixQueries?: number;
  prefixHits?: number;
  /** d(hits) / d(queries); undefined when no queries happened in between */
  prefixHitRate?: number;
  promptTokens?: number;
  generationTokens?: number;
}

export interface SnapshotDiff extends CounterDelta {
  durationS: number;
  kvUsageFracBefore?: number;
  kvUsageFracAfter?: number;
  /** a counter went down: the server restarted in between; deltas are then from zero */
  counterReset: boolean;
  engines: Record<string, CounterDelta>;
}

function deltaOf(a: EngineMetrics, b: EngineMetrics, reset: { v: boolean }): CounterDelta {
  const d: CounterDelta = {};
  for (const key of [
    'preemptions',
    'prefixQueries',
    'prefixHits',
    'promptTokens',
    'generationTokens',
  ] as const) {
    const x = a[key];
    const y = b[key];
    if (x === undefined || y === undefined) continue;
    if (y < x) {
      // restarted in between: count from zero
      reset.v = true;
      d[key] = y;
    } else d[key] = y - x;
  }
  if (d.prefixQueries !== undefined && d.prefixHits !== undefined && d.prefixQueries > 0)
    d.prefixHitRate = d.prefixHits / d.prefixQueries;
  return d;
}

/** Counter deltas between two snapshots of the same server (bench's before / after). */
export function diffSnapshots(before: CanonicalSnapshot, after: CanonicalSnapshot): SnapshotDiff {
  const reset = { v: false };
  const engines: Record<string, CounterDelta> = {};
  for (const [k, e] of Object.entries(after.engines)) engines[k] = deltaOf(before.engines[k] ?? {}, e, reset);
  const diff: SnapshotDiff = {
    ...deltaOf(before.combined, after.combined, reset),
    durationS: (after.fetchedAtUnixMs - before.fetchedAtUnixMs) / 1000,
    counterReset: false,
    engines,
  };
  diff.counterReset = reset.v;
  if (before.combined.kvUsageFrac !== undefined) diff.kvUsageFracBefore = before.combined.kvUsageFrac;
  if (after.combined.kvUsageFrac !== undefined) diff.kvUsageFracAfter = after.combined.kvUsageFrac;
  return diff;
}

/** The origin of a server URL: `http://h:p/v1` and `http://h:p/metrics` both give `http://h:p`. */
export function serverOrigin(url: string): string {
  let u: URL;
  try {
    u = new URL(url.includes('://') ? url : `http://${url}`);
  } catch (cause) {
    throw new ServelabError('BAD_FLAG', `bad server URL "${url}"`, {
      hint: 'give one like http://127.0.0.1:8000',
      cause,
    });
  }
  return u.origin;
}

/** Parses a page or throws a ServelabError naming the line (for one-shot callers). */
export function parseOrThrow(text: string, source: string): ParsedPage {
  const r = parsePrometheusText(text);
  if (!r.ok)
    throw new ServelabError('BAD_FILE', formatParseFailure(r.error, source), {
      hint: 'is this a Prometheus /metrics page? a router may serve JSON on /metrics; scrape the backend ports',
    });
  return r.page;
}

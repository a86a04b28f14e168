/**
 * `--scenario soak --duration 1h`: one sustained stage, cut into time slices; per slice the
 * client-facing figures (ok output tok/s, TTFT / TPOT / E2E p50, share not ok), the server's
 * (KV usage, waiting queue, preemptions) and the client's heap. Each series gets a Mann-Kendall
 * test (significance alpha) and a Theil-Sen change over the run (effect size); a series "moves"
 * when its trend is significant, in the bad direction and at least the tolerance.
 * Verdict: degrading (a client-facing series moves), drifting (only server or client-memory
 * series move: the system creeps before users see it), stable (nothing moves).
 */
import { percentileSorted } from '../../analysis/stats.js';
import { type TrendOptions, type TrendResult, trend } from '../../analysis/trend.js';
import type { WorkloadItem } from '../../workload/item.js';
import type { ArrivalSpec } from '../arrivals.js';
import type { RequestRecord } from '../records.js';
import type { LevelResult, RunLevel } from './level.js';
import type { RampResult } from './ramp.js';

export const SOAK_DEFAULTS = { alpha: 0.01, tolerance: 0.05, slices: 20 } as const;

export interface SoakOptions {
  arrivals: ArrivalSpec;
  items: WorkloadItem[];
  durationMs: number;
  sliceMs: number;
  /** Mann-Kendall significance level (default 0.01) */
  alpha?: number;
  /** smallest relative change over the run that matters (default 0.05) */
  tolerance?: number;
  /** leading slices left out of the tests (the load ramps up in them; default 1) */
  warmupSlices?: number;
  /** where the load came from when no --max-concurrency / --request-rate was given */
  load?: SoakLoad;
}

/** share of the ramp's knee a soak without a given load runs at */
export const SOAK_KNEE_SHARE = 0.9;

/** The soak's load found by a ramp first (no --max-concurrency / --request-rate given). */
export interface SoakLoad {
  from: 'ramp';
  /** the closed-loop concurrency soaked at */
  concurrency: number;
  share: number;
  /** the ramp level the share was taken of */
  basis: string;
  why: string;
  ramp: RampResult;
}

/**
 * The soak's concurrency from a closed-loop ramp: `share` of the knee's concurrency (rounded,
 * at least 1). No knee because the first level was already saturated: that level's; not
 * saturated at all: the highest level run (the server took more than the ramp gave it).
 */
export function soakLoadFromRamp(ramp: RampResult, share = SOAK_KNEE_SHARE): SoakLoad {
  const pct = `${(share * 100).toFixed(0)} %`;
  let basisRow = ramp.kneeLevel;
  let why: string;
  if (basisRow) why = `${pct} of the ramp's knee ${basisRow.label}`;
  else if (ramp.knee.saturated) {
    basisRow = ramp.levels[0]!;
    why = `${pct} of ${basisRow.label}, the ramp's first level (already past saturation)`;
  } else {
    basisRow = ramp.levels.at(-1)!;
    why = `${pct} of ${basisRow.label}, the ramp's highest level (not saturated: the knee is higher)`;
  }
  const concurrency = Math.max(1, Math.round(share * basisRow.load));
  return { from: 'ramp', concurrency, share, basis: basisRow.label, why: `c=${concurrency} = ${why}`, ramp };
}

export interface SoakSlice {
  startS: number;
  endS: number;
  ok: number;
  notOk: number;
  outputTokensPerS: number;
  ttftP50Ms: number | null;
  tpotP50Ms: number | null;
  e2eP50Ms: number | null;
  kvUsage?: number;
  waiting?: number;
  preemptions?: number;
  heapUsedMiB?: number;
  rssMiB?: number;
}

export type SoakVerdict = 'stable' | 'drifting' | 'degrading';

export interface SoakSeries {
  key: string;
  label: string;
  group: 'client-facing' | 'server' | 'client-memory';
  trend: TrendResult;
  evidence: string;
}

export interface SoakResult {
  kind: 'soak';
  verdict: SoakVerdict;
  why: string;
  arrivals: string;
  durationS: number;
  sliceS: number;
  warmupSlices: number;
  alpha: number;
  tolerance: number;
  slices: SoakSlice[];
  series: SoakSeries[];
  rules: string;
  /** set when the load came from a ramp run first */
  load?: SoakLoad;
}

interface SeriesDef {
  key: keyof SoakSlice;
  label: string;
  group: SoakSeries['group'];
  bad: 'up' | 'down';
  /** a number, or computed from the analysed slices */
  absFloor?: number | ((used: readonly SoakSlice[]) => number);
  unit: string;
}

/**
 * The client keeps every record in memory for the summary: this much live heap per request is
 * expected. Measured: ~24 KiB per request (slice minima, a 10-min virtual soak at c=256 with the
 * simulator in the same process, 512-token prompts, 64-192-token outputs); 64 KiB leaves ~2.7x.
 */
export const CLIENT_HEAP_PER_REQUEST_KIB = 64;

const SERIES: SeriesDef[] = [
  { key: 'outputTokensPerS', label: 'output tok/s', group: 'client-facing', bad: 'down', unit: 'tok/s' },
  { key: 'ttftP50Ms', label: 'TTFT p50', group: 'client-facing', bad: 'up', unit: 'ms' },
  { key: 'tpotP50Ms', label: 'TPOT p50', group: 'client-facing', bad: 'up', unit: 'ms' },
  { key: 'e2eP50Ms', label: 'E2E p50', group: 'client-facing', bad: 'up', unit: 'ms' },
  {
    key: 'notOk',
    label: 'requests not ok',
    group: 'client-facing',
    bad: 'up',
    absFloor: 1,
    unit: 'per slice',
  },
  { key: 'kvUsage', label: 'KV usage', group: 'server', bad: 'up', absFloor: 0.05, unit: '(0-1)' },
  { key: 'waiting', label: 'waiting queue', group: 'server', bad: 'up', absFloor: 1, unit: 'requests' },
  { key: 'preemptions', label: 'preemptions', group: 'server', bad: 'up', absFloor: 1, unit: 'per slice' },
  // the slice's lowest heap sample; records are kept in memory for the summary: growth counts
  // beyond CLIENT_HEAP_PER_REQUEST_KIB per request (and 256 MiB)
  {
    key: 'heapUsedMiB',
    label: 'client heap',
    group: 'client-memory',
    bad: 'up',
    absFloor: (used) =>
      Math.max(256, (used.reduce((a, s) => a + s.ok + s.notOk, 0) * CLIENT_HEAP_PER_REQUEST_KIB) / 1024),
    unit: 'MiB',
  },
];

function p50(xs: number[]): number | null {
  if (xs.length === 0) return null;
  return percentileSorted(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

/** Per-slice figures of a soak stage; requests are placed by their end, drain after the duration dropped. */
export function soakSlices(res: LevelResult, durationMs: number, sliceMs: number): SoakSlice[] {
  const t0 = res.stage.outcome.startMs;
  const n = Math.max(1, Math.floor(durationMs / sliceMs));
  const by: RequestRecord[][] = Array.from({ length: n }, () => []);
  for (const r of res.stage.records) {
    if (r.warmup) continue;
    const k = Math.floor((r.endMs - t0) / sliceMs);
    if (k >= 0 && k < n) by[k]!.push(r);
  }
  const out: SoakSlice[] = [];
  for (let k = 0; k < n; k++) {
    const from = t0 + k * sliceMs;
    const to = from + sliceMs;
    const rs = by[k]!;
    const ok = rs.filter((r) => r.status === 'ok');
    const ttft = ok.flatMap((r) => (r.firstTokenMs !== undefined ? [r.firstTokenMs - r.sentMs] : []));
    const tpot = ok.flatMap((r) =>
      r.firstTokenMs !== undefined && r.lastTokenMs !== undefined && r.outputTokens > 1
        ? [(r.lastTokenMs - r.firstTokenMs) / (r.outputTokens - 1)]
        : [],
    );
    const e2e = ok.map((r) => (r.lastTokenMs ?? r.endMs) - r.sentMs);
    const s: SoakSlice = {
      startS: (from - t0) / 1000,
      endS: (to - t0) / 1000,
      ok: ok.length,
      notOk: rs.length - ok.length,
      outputTokensPerS: ok.reduce((a, r) => a + r.outputTokens, 0) / (sliceMs / 1000),
      ttftP50Ms: p50(ttft),
      tpotP50Ms: p50(tpot),
      e2eP50Ms: p50(e2e),
    };
    const inSlice = <T extends { tMs: number }>(ps: T[]) => ps.filter((p) => p.tMs >= from && p.tMs < to);
    const sp = inSlice(res.server);
    const kv = avg(sp.flatMap((p) => (p.kvUsage !== undefined ? [p.kvUsage] : [])));
    if (kv !== undefined) s.kvUsage = kv;
    const w = avg(sp.flatMap((p) => (p.waiting !== undefined ? [p.waiting] : [])));
    if (w !== undefined) s.waiting = w;
    // preemptions in the slice: the counter's rise from the last sample before it to the last in it
    const pre = res.server.filter((p) => p.preemptions !== undefined && p.tMs < to);
    const before = res.server.filter((p) => p.preemptions !== undefined && p.tMs < from).at(-1);
    if (pre.length && before) s.preemptions = pre.at(-1)!.preemptions! - before.preemptions!;
    else if (pre.length && k === 0) s.preemptions = pre.at(-1)!.preemptions! - pre[0]!.preemptions!;
    const cp = inSlice(res.client);
    // the slice's lowest heap sample: garbage only adds to heapUsed, so the minimum is the
    // sample nearest the live heap (right after a collection), not the sawtooth of the collector
    if (cp.length)
      s.heapUsedMiB = cp.reduce((m, p) => Math.min(m, p.heapUsedBytes), Number.POSITIVE_INFINITY) / 2 ** 20;
    const rss = avg(cp.map((p) => p.rssBytes));
    if (rss !== undefined) s.rssMiB = rss / 2 ** 20;
    out.push(s);
  }
  return out;
}

function fmt(x: number): string {
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 1 ? x.toFixed(2) : x.toPrecision(2);
}

/** Trend tests and the verdict over soak slices (pure). */
export function soakVerdict(
  slices: readonly SoakSlice[],
  o: { alpha: number; tolerance: number; warmupSlices: number },
): { verdict: SoakVerdict; why: string; series: SoakSeries[] } {
  const used = slices.slice(o.warmupSlices);
  const series: SoakSeries[] = [];
  for (const d of SERIES) {
    const pts = used.flatMap((s) => {
      const v = s[d.key];
      return typeof v === 'number' && Number.isFinite(v) ? [{ t: (s.startS + s.endS) / 2, v }] : [];
    });
    if (pts.length < 4) continue;
    const opts: TrendOptions = { alpha: o.alpha, bad: d.bad, tolerance: o.tolerance };
    if (d.absFloor !== undefined)
      opts.absFloor = typeof d.absFloor === 'number' ? d.absFloor : d.absFloor(used);
    const t = trend(
      pts.map((p) => p.t),
      pts.map((p) => p.v),
      opts,
    );
    const rel =
      t.relChange !== null
        ? ` (${t.relChange >= 0 ? '+' : ''}${(t.relChange * 100).toFixed(1)} % of the median ${fmt(t.median)})`
        : '';
    const evidence =
      `${d.label}: ${t.change >= 0 ? '+' : ''}${fmt(t.change)} ${d.unit} over the run${rel}, ` +
      `Theil-Sen ${fmt(t.slopePerS * 60)} ${d.unit}/min, Mann-Kendall p = ${t.p < 1e-4 ? t.p.toExponential(1) : t.p.toFixed(4)} ` +
      `${t.significant ? '<' : '>='} ${o.alpha}` +
      (t.moves
        ? ': MOVES'
        : t.significant
          ? `: significant, but ${t.change * (d.bad === 'up' ? 1 : -1) > 0 ? `under the threshold ${fmt(t.threshold)}` : 'in the good direction'}`
          : '');
    series.push({ key: d.key, label: d.label, group: d.group, trend: t, evidence });
  }
  const moving = series.filter((s) => s.trend.moves);
  const facing = moving.filter((s) => s.group === 'client-facing');
  if (facing.length)
    return {
      verdict: 'degrading',
      why: `client-facing figures moved: ${facing.map((s) => s.label).join(', ')}`,
      series,
    };
  if (moving.length)
    return {
      verdict: 'drifting',
      why: `server or client-memory figures crept (users do not see it yet): ${moving.map((s) => s.label).join(', ')}`,
      series,
    };
  return {
    verdict: 'stable',
    why: `no series moved (${series.length} tested over ${used.length} slices)`,
    series,
  };
}

export function soakRules(o: { alpha: number; tolerance: number; warmupSlices: number }): string {
  return (
    `per time slice (requests placed by their end; the first ${o.warmupSlices} slice(s) left out: the load ramps up there), ` +
    `each series gets a two-sided Mann-Kendall test at alpha = ${o.alpha} and a Theil-Sen slope; ` +
    `a series moves when the trend is significant, in the bad direction, and its change over the run is at least ` +
    `${(o.tolerance * 100).toFixed(0)} % of its median (or the series' absolute floor: KV 0.05, waiting 1, preemptions 1, requests not ok 1, client heap max(256 MiB, ${CLIENT_HEAP_PER_REQUEST_KIB} KiB per request analysed: the client keeps its records in memory)); the client heap of a slice is its lowest heapUsed sample (garbage only adds to heapUsed, so the minimum is the sample nearest the live heap, after a collection); ` +
    'degrading: a client-facing series moves; drifting: only server or client-memory series move; stable: none moves'
  );
}

export async function runSoak(run: RunLevel, o: SoakOptions): Promise<SoakResult> {
  const alpha = o.alpha ?? SOAK_DEFAULTS.alpha;
  const tolerance = o.tolerance ?? SOAK_DEFAULTS.tolerance;
  const warmupSlices = o.warmupSlices ?? 1;
  const res = await run({
    arrivals: o.arrivals,
    items: o.items,
    durationMs: o.durationMs,
    label: `soak ${(o.durationMs / 1000).toFixed(0)} s`,
  });
  const slices = soakSlices(res, o.durationMs, o.sliceMs);
  const v = soakVerdict(slices, { alpha, tolerance, warmupSlices });
  return {
    kind: 'soak',
    ...v,
    arrivals: res.stage.arrivals,
    durationS: o.durationMs / 1000,
    sliceS: o.sliceMs / 1000,
    warmupSlices,
    alpha,
    tolerance,
    slices,
    rules: soakRules({ alpha, tolerance, warmupSlices }),
    ...(o.load ? { load: o.load } : {}),
  };
}

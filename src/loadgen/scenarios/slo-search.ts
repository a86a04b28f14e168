/**
 * `--slo ... --scenario slo`: the highest load (concurrency or request rate) that meets the SLO.
 * Doubling from the start until a level breaks it, then bisection between the highest level
 * that met it and the lowest that broke it, in at most `maxSteps` measured levels. Assumes the
 * SLO figures grow with load (monotone); the levels measured are all reported.
 */
import type { WorkloadItem } from '../../workload/item.js';
import type { ArrivalSpec } from '../arrivals.js';
import { evaluateSlo, type SloThreshold, type SloVerdict } from '../slo.js';
import { type LevelRow, levelRow, type RunLevel } from './level.js';
import { levelLabel } from './ramp.js';

export interface SloSearchOptions {
  /** closed loops over concurrency (integers) or Poisson rates */
  over: 'concurrency' | 'rate';
  start: number;
  /** the largest load tried */
  max: number;
  slo: SloThreshold[];
  maxErrorShare?: number;
  /** measured levels at most (default 10) */
  maxSteps?: number;
  /** rate: stop when the bracket is within this share (default 0.05); concurrency: adjacent integers */
  precision?: number;
  items: (k: number, a: ArrivalSpec) => WorkloadItem[];
  requests: (a: ArrivalSpec) => number;
  /** a cap on requests in flight for rate levels */
  maxConcurrency?: number;
  signal?: AbortSignal;
}

export interface SloLevel extends LevelRow {
  slo: SloVerdict;
}

export interface SloSearchResult {
  kind: 'slo';
  over: 'concurrency' | 'rate';
  slo: string[];
  /** every level measured, in the order run */
  levels: SloLevel[];
  /** the highest load measured that met the SLO */
  best: SloLevel | null;
  /** the lowest load measured above best that broke it */
  next: SloLevel | null;
  /** why the search ended */
  ended: string;
}

export async function runSloSearch(run: RunLevel, o: SloSearchOptions): Promise<SloSearchResult> {
  const maxSteps = o.maxSteps ?? 10;
  const precision = o.precision ?? 0.05;
  const levels: SloLevel[] = [];
  const spec = (load: number): ArrivalSpec =>
    o.over === 'concurrency'
      ? { kind: 'closed', concurrency: load }
      : {
          kind: 'poisson',
          ratePerSec: load,
          ...(o.maxConcurrency !== undefined ? { maxConcurrency: o.maxConcurrency } : {}),
        };
  const measure = async (load: number): Promise<SloLevel> => {
    const a = spec(load);
    const res = await run({
      arrivals: a,
      items: o.items(levels.length, a),
      numPrompts: o.requests(a),
      label: levelLabel(a),
    });
    const l: SloLevel = { ...levelRow(res), slo: evaluateSlo(res.stage.summary, o.slo, o.maxErrorShare) };
    levels.push(l);
    return l;
  };
  const round = (x: number) => (o.over === 'concurrency' ? Math.max(1, Math.round(x)) : x);
  let best: SloLevel | null = null;
  let next: SloLevel | null = null;
  let ended = '';
  let load = round(o.start);
  // 1. double until a level breaks the SLO
  for (;;) {
    if (o.signal?.aborted) return done('interrupted');
    if (levels.length >= maxSteps) return done(`step limit (${maxSteps} levels) reached while doubling`);
    const l = await measure(load);
    if (!l.slo.ok) {
      next = l;
      break;
    }
    best = l;
    if (load >= o.max) return done(`the SLO held up to the largest load tried (${levelLabel(spec(o.max))})`);
    load = round(Math.min(o.max, load * 2));
  }
  if (!best) return done(`the SLO broke already at the first level (${next.label}: ${next.slo.why})`);
  // 2. bisect between best (meets) and next (breaks)
  for (;;) {
    const lo = best.load;
    const hi = next.load;
    if (o.over === 'concurrency' ? hi - lo <= 1 : hi / lo - 1 <= precision)
      return done(
        o.over === 'concurrency'
          ? `adjacent concurrencies: ${lo} meets the SLO, ${hi} breaks it`
          : `bracket within ${(precision * 100).toFixed(0)} %: ${lo.toFixed(2)} req/s meets, ${hi.toFixed(2)} breaks`,
      );
    if (o.signal?.aborted) return done('interrupted');
    if (levels.length >= maxSteps)
      return done(
        `step limit (${maxSteps} levels) reached; the answer lies between ${best.label} and ${next.label}`,
      );
    const mid = o.over === 'concurrency' ? Math.floor((lo + hi) / 2) : (lo + hi) / 2;
    const l = await measure(mid);
    if (l.slo.ok) best = l;
    else next = l;
  }

  function done(why: string): SloSearchResult {
    ended = why;
    return { kind: 'slo', over: o.over, slo: o.slo.map((t) => t.text), levels, best, next, ended };
  }
}

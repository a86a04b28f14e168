/**
 * `--scenario ramp`: one stage per load level (concurrency or rate), rising, until a level is
 * past saturation (analysis/knee.ts: throughput stopped growing, the server queued, or the SLO
 * broke); the knee is the level before it.
 */
import { findKnee, type KneeOptions, type KneeResult, type LoadLevel } from '../../analysis/knee.js';
import type { WorkloadItem } from '../../workload/item.js';
import { type ArrivalSpec, describeArrivals } from '../arrivals.js';
import { evaluateSlo, type SloThreshold, type SloVerdict } from '../slo.js';
import { type LevelRow, levelRow, loadOf, type RunLevel } from './level.js';

export interface RampOptions {
  levels: ArrivalSpec[];
  /** the prompts of level k (fresh per level) */
  items: (k: number) => WorkloadItem[];
  /** measured requests of a level */
  requests?: (a: ArrivalSpec) => number;
  /** or a duration per level */
  durationMs?: number;
  slo?: SloThreshold[];
  maxErrorShare?: number;
  knee?: KneeOptions;
  signal?: AbortSignal;
}

export interface RampLevelRow extends LevelRow {
  slo?: SloVerdict;
}

export interface RampResult {
  kind: 'ramp';
  levels: RampLevelRow[];
  knee: KneeResult;
  /** the knee level's row */
  kneeLevel: RampLevelRow | null;
  rules: string;
}

/** The knee rule's inputs from the level rows. */
export function loadLevels(rows: readonly RampLevelRow[]): LoadLevel[] {
  return rows.map((r) => ({
    load: r.load,
    label: r.label,
    outputTokensPerS: r.outputTokensPerS,
    requestsPerS: r.requestsPerS,
    meanInFlight: r.meanInFlight,
    ...(r.meanWaiting !== undefined ? { meanWaiting: r.meanWaiting } : {}),
    ...(r.slo ? { sloOk: r.slo.ok, ...(r.slo.why ? { sloWhy: r.slo.why } : {}) } : {}),
  }));
}

/** Concurrency 1, 2, 4, ... up to max (max itself last). */
export function doublingLevels(max: number, start = 1): ArrivalSpec[] {
  const out: ArrivalSpec[] = [];
  for (let c = start; c < max; c *= 2) out.push({ kind: 'closed', concurrency: c });
  out.push({ kind: 'closed', concurrency: max });
  return out;
}

export function levelLabel(a: ArrivalSpec): string {
  return a.kind === 'closed'
    ? `c=${a.concurrency}`
    : a.kind === 'burst'
      ? describeArrivals(a)
      : `${a.ratePerSec.toFixed(2)} req/s`;
}

export function rampRules(o: KneeOptions = {}): string {
  const tol = o.tolerance ?? 0.05;
  const qs = o.queueShare ?? 0.25;
  return (
    `a level is past saturation when its output tok/s grew < ${(tol * 100).toFixed(0)} % over the level before, ` +
    `the server's mean waiting queue was >= max(1, ${(qs * 100).toFixed(0)} % of the requests in flight), or the SLO broke; ` +
    'the knee is the level before the first such level'
  );
}

export async function runRamp(run: RunLevel, o: RampOptions): Promise<RampResult> {
  const rows: RampLevelRow[] = [];
  for (let k = 0; k < o.levels.length; k++) {
    if (o.signal?.aborted) break;
    const a = o.levels[k]!;
    const res = await run({
      arrivals: a,
      items: o.items(k),
      label: levelLabel(a),
      ...(o.durationMs !== undefined
        ? { durationMs: o.durationMs }
        : o.requests
          ? { numPrompts: o.requests(a) }
          : {}),
    });
    const row: RampLevelRow = levelRow(res);
    if (o.slo) row.slo = evaluateSlo(res.stage.summary, o.slo, o.maxErrorShare);
    rows.push(row);
    if (findKnee(loadLevels(rows), o.knee).saturated) break;
  }
  const knee = findKnee(loadLevels(rows), o.knee);
  return {
    kind: 'ramp',
    levels: rows,
    knee,
    kneeLevel: knee.knee !== null ? rows[knee.knee]! : null,
    rules: rampRules(o.knee),
  };
}

/** measured requests per ramp level: enough for the loop to reach steady state (10 per user, at least `min`) */
export function rampRequests(min: number): (a: ArrivalSpec) => number {
  return (a) => Math.max(min, Math.ceil(10 * (a.kind === 'closed' ? a.concurrency : loadOf(a))));
}

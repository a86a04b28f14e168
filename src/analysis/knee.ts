/**
 * Saturation and the knee of a load ramp (pure). A level is past saturation when, against the
 * level before it, (1) throughput grew by less than `tolerance` although the load grew, (2) the
 * server queued requests (mean waiting >= max(1, queueShare x mean in flight)), or (3) an SLO
 * broke. The knee is the last level before the first one past saturation.
 */

export interface LoadLevel {
  /** the offered load: concurrency or request rate */
  load: number;
  /** e.g. "c=64" or "12.0 req/s" */
  label: string;
  outputTokensPerS: number;
  requestsPerS: number;
  /** the client's mean requests in flight */
  meanInFlight?: number;
  /** the server's mean waiting queue during the level (from /metrics or the engine) */
  meanWaiting?: number;
  /** undefined: no SLO given */
  sloOk?: boolean;
  sloWhy?: string;
}

export interface KneeOptions {
  /** throughput growth below this share counts as "stopped growing" (default 0.05) */
  tolerance?: number;
  /** mean waiting at or above this share of the mean in flight counts as queueing (default 0.25) */
  queueShare?: number;
}

export type SaturationRule = 'throughput' | 'queueing' | 'slo';

export interface Saturation {
  rule: SaturationRule;
  reason: string;
}

export const KNEE_DEFAULTS = { tolerance: 0.05, queueShare: 0.25 } as const;

/** Why level i is past saturation, or undefined. Level 0 can only fail the queue or SLO rule. */
export function saturationAt(
  levels: readonly LoadLevel[],
  i: number,
  o: KneeOptions = {},
): Saturation | undefined {
  const tol = o.tolerance ?? KNEE_DEFAULTS.tolerance;
  const qs = o.queueShare ?? KNEE_DEFAULTS.queueShare;
  const l = levels[i]!;
  if (l.sloOk === false)
    return { rule: 'slo', reason: `the SLO broke at ${l.label}${l.sloWhy ? ` (${l.sloWhy})` : ''}` };
  if (l.meanWaiting !== undefined && l.meanInFlight !== undefined) {
    const limit = Math.max(1, qs * l.meanInFlight);
    if (l.meanWaiting >= limit)
      return {
        rule: 'queueing',
        reason: `the server queued requests at ${l.label}: mean waiting ${l.meanWaiting.toFixed(1)} >= ${limit.toFixed(1)} (${(qs * 100).toFixed(0)} % of ${l.meanInFlight.toFixed(1)} in flight)`,
      };
  }
  if (i === 0) return undefined;
  const p = levels[i - 1]!;
  if (l.load > p.load && p.outputTokensPerS > 0) {
    const growth = l.outputTokensPerS / p.outputTokensPerS - 1;
    if (growth < tol)
      return {
        rule: 'throughput',
        reason: `throughput stopped growing from ${p.label} to ${l.label}: ${p.outputTokensPerS.toFixed(0)} -> ${l.outputTokensPerS.toFixed(0)} output tok/s (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} % < ${(tol * 100).toFixed(0)} %) for ${(l.load / p.load).toFixed(2)}x the load`,
      };
  }
  return undefined;
}

export interface KneeResult {
  /** a level past saturation was found */
  saturated: boolean;
  /** index of the knee (the last level before saturation); null when the first level was already past it */
  knee: number | null;
  /** index of the first level past saturation */
  at: number | null;
  rule: SaturationRule | null;
  reason: string;
}

export function findKnee(levels: readonly LoadLevel[], o: KneeOptions = {}): KneeResult {
  for (let i = 0; i < levels.length; i++) {
    const s = saturationAt(levels, i, o);
    if (!s) continue;
    return {
      saturated: true,
      knee: i > 0 ? i - 1 : null,
      at: i,
      rule: s.rule,
      reason:
        i > 0
          ? `knee at ${levels[i - 1]!.label}: ${s.reason}`
          : `no knee: the first level was already past saturation (${s.reason})`,
    };
  }
  const last = levels.at(-1);
  return {
    saturated: false,
    knee: null,
    at: null,
    rule: null,
    reason: last
      ? `not saturated up to ${last.label}: throughput still grew, no queueing${levels.some((l) => l.sloOk !== undefined) ? ', SLO met' : ''}`
      : 'no levels ran',
  };
}

import { ServelabError } from '../errors.js';
import { mixSeed } from '../random.js';
import type { ArrivalSpec } from './arrivals.js';

/**
 * `--sweep`: `1,2,4` (request rates, Poisson unless --burstiness), `c1,c8,c64` or
 * `concurrency:1,8,64` (closed loops), or `auto[:N]`: synchronous (c=1), then max throughput
 * (closed loop at `--max-concurrency`, default 256), then N Poisson rates evenly between the
 * two measured throughputs, stopping early once the server is past saturation.
 */
export type SweepSpec =
  | { kind: 'list'; stages: ArrivalSpec[] }
  | { kind: 'auto'; rates: number; maxConcurrency: number };

export function parseSweep(text: string, o: { burstiness?: number; maxConcurrency?: number }): SweepSpec {
  const t = text.trim();
  const bad = (why: string) =>
    new ServelabError('BAD_FLAG', `--sweep "${text}": ${why}`, {
      hint: 'use rates (--sweep 1,2,4), concurrencies (--sweep c1,c8,c64) or --sweep auto[:N]',
    });
  if (t === 'auto' || t.startsWith('auto:')) {
    const n = t === 'auto' ? 5 : Number(t.slice(5));
    if (!Number.isInteger(n) || n < 1 || n > 50) throw bad('N must be an integer in 1..50');
    return { kind: 'auto', rates: n, maxConcurrency: o.maxConcurrency ?? 256 };
  }
  let body = t;
  let conc = false;
  if (t.startsWith('concurrency:')) {
    conc = true;
    body = t.slice(12);
  }
  const parts = body
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw bad('no values');
  const stages = parts.map((p): ArrivalSpec => {
    const isC = conc || p.startsWith('c');
    const v = Number(isC && p.startsWith('c') ? p.slice(1) : p);
    if (isC) {
      if (!Number.isInteger(v) || v < 1) throw bad(`"${p}" is not a concurrency`);
      return { kind: 'closed', concurrency: v };
    }
    if (!(v > 0) || !Number.isFinite(v)) throw bad(`"${p}" is not a request rate`);
    const cap = o.maxConcurrency !== undefined ? { maxConcurrency: o.maxConcurrency } : {};
    const b = o.burstiness ?? 1;
    return b === 1
      ? { kind: 'poisson', ratePerSec: v, ...cap }
      : { kind: 'gamma', ratePerSec: v, burstiness: b, ...cap };
  });
  return { kind: 'list', stages };
}

/** N rates strictly between the synchronous and the max throughput (req/s), evenly spaced. */
export function autoRates(syncRps: number, maxRps: number, n: number): number[] {
  if (!(maxRps > syncRps)) return [];
  return Array.from({ length: n }, (_, k) => syncRps + ((maxRps - syncRps) * (k + 1)) / (n + 1));
}

/**
 * Past saturation: the achieved throughput stopped growing (< 3 % over the previous stage), or
 * already reached the closed-loop maximum (>= 97 %). Offered rates are not compared directly:
 * a finite run's drain time makes achieved < offered even far from saturation.
 */
export function pastSaturation(
  prevRps: number | undefined,
  rps: number,
  maxRps?: number,
): string | undefined {
  if (maxRps !== undefined && rps >= 0.97 * maxRps)
    return `throughput ${rps.toFixed(2)} req/s reached the maximum measured (${maxRps.toFixed(2)} req/s)`;
  if (prevRps !== undefined && rps < 1.03 * prevRps)
    return `throughput stopped growing (${prevRps.toFixed(2)} -> ${rps.toFixed(2)} req/s)`;
  return undefined;
}

/**
 * The workload seed of sweep stage `stage` (0-based): the bench seed for the first, derived for
 * the rest, so a later stage does not re-send the first stage's prompts to a server whose prefix
 * cache still holds them (experiment/plan.ts gives every request cell's level its own).
 */
export function stageSeed(seed: number, stage: number): number {
  return stage === 0 ? seed : mixSeed(seed, 0x57a9e, stage);
}

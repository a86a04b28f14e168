import { ServelabError } from '../errors.js';
import { exponential, gamma, mulberry32, subSeed } from '../random.js';

/**
 * When requests are due. Pure and seeded: an arrival process only answers "when is request n
 * due" (as an offset from the start); the dispatcher sends, and records how late it was.
 * - closed: `concurrency` users, each sends its next request when its previous one ends.
 * - burst: every request due at once (vLLM's --request-rate inf).
 * - poisson / gamma / constant: open loop at `ratePerSec`; `maxConcurrency` optionally caps
 *   the requests in flight, and time spent waiting for a slot is schedule lag.
 */
export type ArrivalSpec =
  | { kind: 'closed'; concurrency: number }
  | { kind: 'burst'; maxConcurrency?: number }
  | { kind: 'poisson'; ratePerSec: number; maxConcurrency?: number }
  | { kind: 'gamma'; ratePerSec: number; burstiness: number; maxConcurrency?: number }
  | { kind: 'constant'; ratePerSec: number; maxConcurrency?: number };

/** One line, e.g. `poisson@4.00/s`, `gamma(b=0.5)@4.00/s`, `closed(c=64)`, `poisson@4.00/s,c<=64`. */
export function describeArrivals(s: ArrivalSpec): string {
  const cap = s.kind !== 'closed' && s.maxConcurrency !== undefined ? `,c<=${s.maxConcurrency}` : '';
  switch (s.kind) {
    case 'closed':
      return `closed(c=${s.concurrency})`;
    case 'burst':
      return `burst@inf/s${cap}`;
    case 'poisson':
      return `poisson@${s.ratePerSec.toFixed(2)}/s${cap}`;
    case 'gamma':
      return `gamma(b=${s.burstiness})@${s.ratePerSec.toFixed(2)}/s${cap}`;
    case 'constant':
      return `constant@${s.ratePerSec.toFixed(2)}/s${cap}`;
  }
}

/** The concurrency cap of a spec (closed loop: its users), or undefined when unbounded. */
export function concurrencyCap(s: ArrivalSpec): number | undefined {
  return s.kind === 'closed' ? s.concurrency : s.maxConcurrency;
}

/**
 * From vLLM-bench flags: rate (Infinity = all at once), burstiness (1 = Poisson; gamma shape
 * otherwise), max concurrency, and `constant` for evenly spaced arrivals.
 */
export function arrivalsFromFlags(o: {
  requestRate?: number;
  burstiness?: number;
  maxConcurrency?: number;
  constant?: boolean;
}): ArrivalSpec {
  const rate = o.requestRate ?? Number.POSITIVE_INFINITY;
  const b = o.burstiness ?? 1;
  if (!(rate > 0))
    throw new ServelabError('BAD_FLAG', `--request-rate must be > 0 or inf (got ${o.requestRate})`, {
      hint: 'requests per second, e.g. --request-rate 4; leave it out with --max-concurrency for a closed loop',
    });
  if (!(b > 0))
    throw new ServelabError('BAD_FLAG', `--burstiness must be > 0 (got ${o.burstiness})`, {
      hint: '1 = Poisson; < 1 burstier; > 1 more regular',
    });
  const c = o.maxConcurrency;
  if (c !== undefined && !(Number.isInteger(c) && c >= 1))
    throw new ServelabError('BAD_FLAG', `--max-concurrency must be a positive integer (got ${c})`);
  const cap = c !== undefined ? { maxConcurrency: c } : {};
  if (!Number.isFinite(rate)) return c !== undefined ? { kind: 'closed', concurrency: c } : { kind: 'burst' };
  if (o.constant) return { kind: 'constant', ratePerSec: rate, ...cap };
  if (b === 1) return { kind: 'poisson', ratePerSec: rate, ...cap };
  return { kind: 'gamma', ratePerSec: rate, burstiness: b, ...cap };
}

/**
 * Due offsets (ms from the start) of requests 0..count-1, stopping early past `untilMs`.
 * Closed loop has no schedule (requests are due when a user is free): an empty array.
 * The first request is due at 0.
 */
export function arrivalOffsetsMs(
  s: ArrivalSpec,
  seed: number,
  count: number,
  untilMs = Infinity,
): Float64Array {
  if (s.kind === 'closed') return new Float64Array(0);
  const out: number[] = [];
  const rng = mulberry32(subSeed(seed, 1000));
  let t = 0;
  for (let i = 0; i < count; i++) {
    if (t > untilMs) break;
    out.push(t);
    switch (s.kind) {
      case 'burst':
        break;
      case 'constant':
        t = ((i + 1) * 1000) / s.ratePerSec;
        break;
      case 'poisson':
        t += exponential(rng, 1000 / s.ratePerSec);
        break;
      case 'gamma':
        // shape = burstiness, mean gap = 1/rate (vLLM's definition)
        t += gamma(rng, s.burstiness, 1000 / (s.ratePerSec * s.burstiness));
        break;
    }
  }
  return Float64Array.from(out);
}

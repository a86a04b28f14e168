/**
 * Fault injection, per request (header `x-servelab-fault: <kind>[;param]`) or by rate (a server
 * option, seeded). Kinds:
 *   429 | 500 | 503          answer with that HTTP error (vLLM error body)
 *   400 | context_length     the 400 "maximum context length" error
 *   slow_first_token[;ms]    the request reaches the engine ms later (default 2000)
 *   stream_cut[;n]           the socket is destroyed after n stream chunks (default 3)
 *   hang                     never finishes: a stream gets its headers and role chunk, then
 *                            nothing; a non-streamed request gets nothing (a client disconnect
 *                            still cleans up)
 *   malformed_chunk[;n]      chunk n+1 is not JSON (default 1), the stream goes on
 *   missing_done             the stream ends without `data: [DONE]`
 */
import { mixSeed, mulberry32, type Rng } from './persona-rng.js';

export const FAULT_KINDS = [
  '429',
  '500',
  '503',
  '400',
  'context_length',
  'slow_first_token',
  'stream_cut',
  'hang',
  'malformed_chunk',
  'missing_done',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type Fault =
  | { kind: 'http_error'; status: 429 | 500 | 503 }
  | { kind: 'context_length' }
  | { kind: 'slow_first_token'; delayMs: number }
  | { kind: 'stream_cut'; afterChunks: number }
  | { kind: 'hang' }
  | { kind: 'malformed_chunk'; afterChunks: number }
  | { kind: 'missing_done' };

export const FAULT_HEADER = 'x-servelab-fault';

function isKind(s: string): s is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(s);
}

/** Parses `<kind>[;param]`; returns an error message for an unknown kind or bad parameter. */
export function parseFault(spec: string): Fault | { error: string } {
  const [rawKind = '', rawParam] = spec.split(';').map((s) => s.trim());
  const kind = rawKind.toLowerCase();
  if (!isKind(kind)) return { error: `unknown fault kind "${rawKind}" (known: ${FAULT_KINDS.join(', ')})` };
  let param: number | undefined;
  if (rawParam !== undefined && rawParam !== '') {
    param = Number(rawParam);
    if (!Number.isFinite(param) || param < 0)
      return { error: `fault "${kind}": parameter "${rawParam}" is not a number >= 0` };
  }
  switch (kind) {
    case '429':
    case '500':
    case '503':
      return { kind: 'http_error', status: Number(kind) as 429 | 500 | 503 };
    case '400':
    case 'context_length':
      return { kind: 'context_length' };
    case 'slow_first_token':
      return { kind: 'slow_first_token', delayMs: param ?? 2000 };
    case 'stream_cut':
      return { kind: 'stream_cut', afterChunks: Math.floor(param ?? 3) };
    case 'hang':
      return { kind: 'hang' };
    case 'malformed_chunk':
      return { kind: 'malformed_chunk', afterChunks: Math.floor(param ?? 1) };
    case 'missing_done':
      return { kind: 'missing_done' };
  }
}

export interface FaultRate {
  spec: string;
  fault: Fault;
  rate: number;
}

/**
 * Parses `kind[;param]=rate,...` (e.g. `429=0.01,stream_cut;5=0.002`). Throws a plain Error
 * naming the bad entry; the CLI wraps it.
 */
export function parseFaultRates(text: string): FaultRate[] {
  const out: FaultRate[] = [];
  let total = 0;
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.lastIndexOf('=');
    if (eq <= 0) throw new Error(`"${entry}" is not kind=rate (e.g. 429=0.01)`);
    const spec = entry.slice(0, eq).trim();
    const rate = Number(entry.slice(eq + 1));
    if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error(`"${entry}": rate must be in [0, 1]`);
    const fault = parseFault(spec);
    if ('error' in fault) throw new Error(fault.error);
    total += rate;
    out.push({ spec, fault, rate });
  }
  if (total > 1 + 1e-9) throw new Error(`fault rates add up to ${total}, more than 1`);
  return out;
}

/** Chooses a fault per request: the header wins, else a seeded draw against the rates. */
export class FaultPicker {
  private readonly rng: Rng;
  readonly injected: Record<string, number> = {};

  constructor(
    private readonly rates: readonly FaultRate[],
    seed: number,
  ) {
    this.rng = mulberry32(mixSeed(seed, 0xfa017));
  }

  pick(header: string | undefined): Fault | { error: string } | undefined {
    let f: Fault | { error: string } | undefined;
    if (header !== undefined && header.trim() !== '') f = parseFault(header);
    else if (this.rates.length > 0) {
      let u = this.rng.next();
      for (const r of this.rates) {
        if (u < r.rate) {
          f = r.fault;
          break;
        }
        u -= r.rate;
      }
    }
    if (f && !('error' in f)) this.injected[f.kind] = (this.injected[f.kind] ?? 0) + 1;
    return f;
  }
}

import { ServelabError } from '../errors.js';
import type { GoodputSlo } from './summary.js';

/** Parsers of `servelab bench` flag values; each error names the flag and the fix. */

/** `--goodput ttft:500 tpot:50 e2el:2000` (vLLM's syntax; ms). */
export function parseGoodput(parts: readonly string[]): GoodputSlo {
  const slo: GoodputSlo = {};
  for (const p of parts.flatMap((x) => x.split(/[\s,]+/)).filter(Boolean)) {
    const [k, v] = p.split(':');
    const ms = Number(v);
    if (!(ms > 0))
      throw new ServelabError('BAD_FLAG', `--goodput "${p}": the SLO must be a positive number of ms`, {
        hint: 'e.g. --goodput ttft:500 tpot:50 e2el:2000',
      });
    if (k === 'ttft') slo.ttftMs = ms;
    else if (k === 'tpot') slo.tpotMs = ms;
    else if (k === 'e2el') slo.e2elMs = ms;
    else
      throw new ServelabError('BAD_FLAG', `--goodput "${p}": unknown metric "${k}"`, {
        hint: 'use ttft, tpot or e2el, e.g. --goodput ttft:500 tpot:50',
      });
  }
  return slo;
}

export function parsePercentiles(text: string): number[] {
  const ps = text.split(',').map((s) => Number(s.trim()));
  if (ps.length === 0 || ps.some((p) => !(p > 0 && p < 100) && p !== 100))
    throw new ServelabError(
      'BAD_FLAG',
      `--percentiles "${text}": give percentiles in (0, 100], e.g. 50,90,95,99`,
    );
  return ps;
}

export function parseHeaders(list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const eq = h.indexOf('=');
    const colon = h.indexOf(':');
    const cut = eq === -1 ? colon : colon === -1 ? eq : Math.min(eq, colon);
    if (cut <= 0)
      throw new ServelabError('BAD_FLAG', `--header "${h}" is not k=v`, {
        hint: 'e.g. --header x-servelab-fault=429',
      });
    out[h.slice(0, cut).trim().toLowerCase()] = h.slice(cut + 1).trim();
  }
  return out;
}

/** vLLM takes the server root + an endpoint path; our transport takes a base ending in /v1. */
export function splitEndpoint(
  baseUrl: string,
  endpoint: string,
  backend?: string,
): { base: string; api: 'chat' | 'completions' } {
  let api: 'chat' | 'completions';
  if (backend !== undefined) {
    if (backend === 'openai-chat' || backend === 'vllm-chat') api = 'chat';
    else if (backend === 'openai' || backend === 'vllm') api = 'completions';
    else
      throw new ServelabError('BAD_FLAG', `--backend "${backend}" is not supported`, {
        hint: 'use openai-chat (chat completions) or openai (completions)',
      });
  } else if (/chat\/completions\/?$/.test(endpoint)) api = 'chat';
  else if (/completions\/?$/.test(endpoint)) api = 'completions';
  else
    throw new ServelabError('BAD_FLAG', `--endpoint "${endpoint}" is not an OpenAI completions path`, {
      hint: 'use /v1/chat/completions or /v1/completions',
    });
  let root: URL;
  try {
    root = new URL(baseUrl);
    if (root.protocol !== 'http:' && root.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ServelabError('BAD_FLAG', `--base-url "${baseUrl}" is not an http(s) URL`, {
      hint: 'e.g. --base-url http://127.0.0.1:8000',
    });
  }
  const prefix = endpoint.replace(/\/(chat\/)?completions\/?$/, '') || '/v1';
  const path = root.pathname.replace(/\/+$/, '');
  const base = `${root.origin}${path.endsWith(prefix) ? path : path + prefix}`;
  return { base, api };
}

/**
 * Request timeouts of `servelab bench`. A server that never answers, or a stream that stops,
 * would otherwise hold the benchmark until it is signalled. First byte: from send to the first
 * byte of a stream's body (for --no-stream: the whole answer, which arrives at once). Idle: the
 * longest silence between two reads after that. Total: none unless asked (a long answer at a
 * slow decode rate is not a failure).
 */
export const BENCH_TIMEOUT_DEFAULTS_S = { firstByte: 300, idle: 120 } as const;
/** the longest timeout a flag takes: one week (well below the 2^31 ms a Node timer holds) */
export const BENCH_TIMEOUT_MAX_S = 7 * 24 * 3600;

export interface BenchTimeouts {
  /** seconds; null = no limit of that kind */
  firstByteS: number | null;
  idleS: number | null;
  totalS: number | null;
}

function timeoutFlag(flag: string, v: string | undefined, dflt: number | null): number | null {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > BENCH_TIMEOUT_MAX_S)
    throw new ServelabError(
      'BAD_FLAG',
      `${flag} "${v}" is not a number of seconds in [0, ${BENCH_TIMEOUT_MAX_S}] (0 = no limit)`,
      { hint: `e.g. ${flag} 60` },
    );
  return n === 0 ? null : n;
}

/** `--first-byte-timeout`, `--idle-timeout`, `--timeout` (seconds; 0 = no limit) with the defaults. */
export function parseBenchTimeouts(f: {
  firstByteTimeout?: string;
  idleTimeout?: string;
  timeout?: string;
}): BenchTimeouts {
  return {
    firstByteS: timeoutFlag('--first-byte-timeout', f.firstByteTimeout, BENCH_TIMEOUT_DEFAULTS_S.firstByte),
    idleS: timeoutFlag('--idle-timeout', f.idleTimeout, BENCH_TIMEOUT_DEFAULTS_S.idle),
    totalS: timeoutFlag('--timeout', f.timeout, null),
  };
}

/** The transport's per-request timeouts (ms) from the bench timeouts. */
export function timeoutsMs(t: BenchTimeouts): { firstByteMs?: number; idleMs?: number; totalMs?: number } {
  return {
    ...(t.firstByteS !== null ? { firstByteMs: t.firstByteS * 1000 } : {}),
    ...(t.idleS !== null ? { idleMs: t.idleS * 1000 } : {}),
    ...(t.totalS !== null ? { totalMs: t.totalS * 1000 } : {}),
  };
}

/**
 * The error share above which `bench` exits 1: a run where more than one measured request in ten
 * did not end ok (error or incomplete) measured a failing server, not a serving speed.
 */
export const BENCH_MAX_ERROR_RATE_DEFAULT = 0.1;

/** `--max-error-rate R`, a share in [0, 1] (1 = never fail on errors). */
export function parseMaxErrorRate(v: string | undefined): number {
  if (v === undefined) return BENCH_MAX_ERROR_RATE_DEFAULT;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new ServelabError('BAD_FLAG', `--max-error-rate "${v}" is not a share in [0, 1]`, {
      hint: 'e.g. --max-error-rate 0.05 (5 %); 1 never fails the run on errors',
    });
  return n;
}

/**
 * The verdict on a finished bench: the share of measured requests that did not end ok, and
 * whether it passes the threshold. `null` when nothing was measured.
 */
export function errorShareVerdict(
  measured: number,
  ok: number,
  maxErrorRate: number,
): { share: number; failed: number; over: boolean } | null {
  if (measured <= 0) return null;
  const failed = measured - ok;
  const share = failed / measured;
  return { share, failed, over: share > maxErrorRate };
}

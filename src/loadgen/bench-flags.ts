import { BOUNDS } from '../config/bounds.js';
import { parseUrlFlag } from '../config/host.js';
import { ServelabError } from '../errors.js';
import { parseLength } from '../workload/lengths.js';
import type { WorkloadOptions } from '../workload/source.js';
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
  const root = parseUrlFlag(baseUrl, '--base-url');
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
/** the longest timeout a flag takes: BOUNDS.durationS, one week (a Node timer holds 2^31 ms) */
export const BENCH_TIMEOUT_MAX_S = BOUNDS.durationS;

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

/**
 * The upper bound of each numeric `bench` flag (docs/FORMATS.md, "Bounds"): past it a value is a
 * typo or a unit slip, and taking it exhausts the heap (--random-input-len 1e12) or a timer.
 */
export const BENCH_FLAG_MAX: Record<string, number> = {
  '--seed': Number.MAX_SAFE_INTEGER,
  '--num-prompts': BOUNDS.prompts,
  '--duration': BOUNDS.durationS,
  '--max-concurrency': BOUNDS.concurrency,
  '--burstiness': 1000,
  '--request-rate': 1_000_000,
  '--warmup': BOUNDS.prompts,
  '--grace': BOUNDS.durationS,
  '--metrics-interval': BOUNDS.durationS,
  '--random-input-len': BOUNDS.tokens,
  '--random-output-len': BOUNDS.tokens,
  '--random-range-ratio': 1,
  '--prefix-groups': BOUNDS.prompts,
  '--prompts-per-group': BOUNDS.prompts,
  '--prefix-len': BOUNDS.tokens,
  '--sharegpt-output-len': BOUNDS.tokens,
  '--workers': BOUNDS.workers,
  '--temperature': 100,
};

/** A numeric flag value: finite, an integer with `int`, in [min, max] (max from BENCH_FLAG_MAX). */
export function parseNumberFlag(
  v: string | undefined,
  flag: string,
  opts: { int?: boolean; min?: number; max?: number; inf?: boolean } = {},
): number | undefined {
  if (v === undefined) return undefined;
  if (opts.inf && /^inf(inity)?$/i.test(v.trim())) return Number.POSITIVE_INFINITY;
  const n = Number(v);
  const max = opts.max ?? BENCH_FLAG_MAX[flag];
  const what = opts.int ? 'an integer' : 'a number';
  if (v.trim() === '' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)))
    throw new ServelabError('BAD_FLAG', `${flag} "${v}" is not ${what}`);
  if ((opts.min !== undefined && n < opts.min) || (max !== undefined && n > max)) {
    const range =
      opts.min !== undefined && max !== undefined
        ? `from ${opts.min} to ${max.toLocaleString('en-US')}`
        : opts.min !== undefined
          ? `>= ${opts.min}`
          : `<= ${max!.toLocaleString('en-US')}`;
    throw new ServelabError('BAD_FLAG', `${flag} "${v}" is out of range: give ${what} ${range}`);
  }
  return n;
}

/** The largest length a distribution flag (--input-dist) gives, roughly (its mean for normal / lognormal). */
function largestLength(dist: string, flag: string): number {
  const d = parseLength(dist, flag);
  return d.kind === 'fixed' ? d.value : d.kind === 'uniform' ? d.max : d.mean;
}

/**
 * The synthetic workloads (random, prefix) are built in memory before the run: their prompt
 * tokens (count x length) are bounded by BOUNDS.workloadTokens, so a slip like
 * `--random-input-len 1e12` or `--num-prompts 1e7` with long prompts is an error, not a crash.
 * Returns the options unchanged.
 */
export function boundedWorkload(o: WorkloadOptions): WorkloadOptions {
  const name = o.datasetName ?? (o.suite ? 'random' : o.datasetPath ? 'jsonl' : 'random');
  if (o.suite !== undefined || (name !== 'random' && name !== 'prefix')) return o;
  const inputLen = o.inputDist
    ? largestLength(o.inputDist, '--input-dist')
    : Math.ceil((o.randomInputLen ?? (name === 'prefix' ? 128 : 1024)) * (1 + (o.randomRangeRatio ?? 0)));
  let prompts: number;
  let perPrompt: number;
  let flags: string;
  if (name === 'prefix') {
    const groups = o.prefixGroups ?? 10;
    prompts = o.count ?? groups * (o.promptsPerGroup ?? 10);
    perPrompt = (o.prefixLen ?? 1024) + inputLen;
    flags = '--num-prompts / --prefix-groups x --prompts-per-group, --prefix-len + --random-input-len';
  } else {
    prompts = o.count ?? 1000;
    perPrompt = inputLen;
    flags = '--num-prompts (default 1000) x --random-input-len (or --input-dist)';
  }
  if (inputLen > BOUNDS.tokens)
    throw new ServelabError(
      'BAD_FLAG',
      `--input-dist "${o.inputDist}" is out of range: lengths up to ${BOUNDS.tokens.toLocaleString('en-US')} tokens`,
    );
  const total = prompts * perPrompt;
  if (total > BOUNDS.workloadTokens)
    throw new ServelabError(
      'BAD_FLAG',
      `the ${name} workload would hold ${total.toLocaleString('en-US')} prompt tokens in memory (${flags}); at most ${BOUNDS.workloadTokens.toLocaleString('en-US')}`,
      { hint: 'give fewer or shorter prompts' },
    );
  return o;
}

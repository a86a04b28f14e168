/**
 * HTTP GET of small text bodies (/metrics, /health, /version) with a hard timeout. A failure is
 * data (`ok: false` with a kind), never an exception: the sampler and `check` go on.
 */
import { request } from 'undici';
import { ServelabError } from '../errors.js';
import { capServerText, readBoundedBody, serverMessage } from '../server-text.js';
import { safeTimeoutMs, setTimer } from '../timers.js';
import type { ParseResult } from './parse.js';
import type { ServerKind } from './registry.js';
import { type CanonicalSnapshot, canonicalize, parseOrThrow, serverOrigin } from './snapshot.js';

export type FetchFailureKind = 'refused' | 'timeout' | 'unreachable' | 'http' | 'reset';

export type FetchTextResult =
  | { ok: true; status: number; text: string }
  | { ok: false; kind: FetchFailureKind; message: string; status?: number; text?: string };

export interface FetchTextOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export type FetchPageResult =
  | { ok: true; status: number; page: ParseResult }
  | { ok: false; kind: FetchFailureKind; message: string; status?: number; text?: string };

export type FetchText = ((url: string, opts: FetchTextOptions) => Promise<FetchTextResult>) & {
  /**
   * Optional (in-process servers): a /metrics page already parsed, the same ParseResult as
   * parsePrometheusText of the text this fetcher gives for the URL at that moment, without
   * writing and reading the text. The KV sampler uses it when present.
   */
  page?: (url: string, opts: FetchTextOptions) => Promise<FetchPageResult>;
};

function errCode(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let d = 0; e && d < 4; d++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return '';
}

/**
 * The most of a 2xx body kept (a /metrics page of many engines and histograms is a few MB at
 * most); a longer answer is refused, read to its end and dropped, so memory stays bounded.
 */
export const FETCH_TEXT_MAX_CHARS = 32 * 1024 * 1024;
/** The most of an error body kept: its head is all that is quoted (capServerText). */
export const ERROR_BODY_MAX_CHARS = 64 * 1024;

/**
 * The default FetchText over undici. Non-2xx statuses come back as `kind: 'http'` with the head
 * of the body, and a message `HTTP <status>: <the server's message, capped>`.
 */
export const fetchTextUndici: FetchText = async (url, { timeoutMs, signal, headers }) => {
  const ac = new AbortController();
  const timer = setTimer(() => ac.abort(), timeoutMs);
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await request(url, {
      method: 'GET',
      signal: ac.signal,
      ...(headers ? { headers } : {}),
      headersTimeout: safeTimeoutMs(timeoutMs),
      bodyTimeout: safeTimeoutMs(timeoutMs),
    });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const { text, cut } = await readBoundedBody(res.body, ok ? FETCH_TEXT_MAX_CHARS : ERROR_BODY_MAX_CHARS);
    if (ok && cut === 0) return { ok: true, status: res.statusCode, text };
    if (ok)
      return {
        ok: false,
        kind: 'http',
        status: res.statusCode,
        message: `HTTP ${res.statusCode} with an answer over ${FETCH_TEXT_MAX_CHARS} characters (${text.length + cut}); not read`,
      };
    // the message quotes the head of what the server said; its length counts the dropped part too
    const shown = capServerText(serverMessage(text), undefined, cut > 0 ? text.length + cut : undefined).text;
    return {
      ok: false,
      kind: 'http',
      status: res.statusCode,
      message: `HTTP ${res.statusCode}${shown ? `: ${shown}` : ''}`,
      text,
    };
  } catch (err) {
    const code = errCode(err);
    if (code === 'ECONNREFUSED') return { ok: false, kind: 'refused', message: 'connection refused' };
    if (ac.signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
      return { ok: false, kind: 'timeout', message: `no answer within ${timeoutMs} ms` };
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
      return { ok: false, kind: 'reset', message: 'connection closed by the server' };
    return {
      ok: false,
      kind: 'unreachable',
      message: `${code || 'error'}: ${(err as Error)?.message ?? err}`,
    };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
};

export interface FetchMetricsOptions {
  timeoutMs?: number;
  /** force the kind instead of detecting it from metric names */
  kind?: ServerKind;
  /** the server's version, when known: orders name fallbacks */
  version?: string;
  signal?: AbortSignal;
  fetchText?: FetchText;
  /** wall clock, ms since the epoch */
  nowUnixMs?: () => number;
}

/**
 * Reads `<origin>/metrics` of a server (any URL of it: `http://h:p`, `http://h:p/v1`) and returns
 * its canonical snapshot. Throws ServelabError (NOT_READY) when the page cannot be read and
 * BAD_FILE when it is not Prometheus text.
 */
export async function fetchMetrics(
  baseUrl: string,
  opts: FetchMetricsOptions = {},
): Promise<CanonicalSnapshot> {
  const url = `${serverOrigin(baseUrl)}/metrics`;
  const fetchText = opts.fetchText ?? fetchTextUndici;
  const now = opts.nowUnixMs ?? Date.now;
  const r = await fetchText(url, {
    timeoutMs: opts.timeoutMs ?? 5000,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const fetchedAtUnixMs = now();
  if (!r.ok)
    throw new ServelabError('NOT_READY', `[GET] "${url}": ${r.message}`, {
      hint:
        r.kind === 'refused'
          ? 'nothing listens on that port (yet): is the server up, the SSH forward open?'
          : 'the server answers no /metrics page there',
      exitCode: 1,
    });
  const page = parseOrThrow(r.text, url);
  return canonicalize(page, {
    url,
    fetchedAtUnixMs,
    ...(opts.kind ? { kind: opts.kind } : {}),
    ...(opts.version ? { version: opts.version } : {}),
  });
}

import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Pool } from 'undici';
import type { CallError, CallRequest, CallResult, Quirk, Transport } from '../loadgen/transport.js';
import { readBoundedBody } from '../server-text.js';
import { setTimer } from '../timers.js';
import { httpError, inStreamError, networkError } from './errors.js';
import { normaliseAnswer } from './normalize.js';
import { apiPath, buildBody } from './request-body.js';
import { countQuirks, failed, finishStream, recordedFinishReason } from './result.js';
import {
  applyChunk,
  applyFastContent,
  newStreamState,
  readServerFirstTokenMs,
  readUsage,
} from './stream-state.js';

export interface HttpTransportOptions {
  /**
   * Connections per origin. Size it to the concurrency: a smaller pool queues requests inside
   * the client where no schedule-lag record can see them. Default: unlimited.
   */
  connections?: number;
  /** bearer token used when a request carries none; never logged or recorded */
  apiKey?: string;
  /** headers sent with every request (a request's extraHeaders win) */
  headers?: Record<string, string>;
  /** body fields merged into every request before the request's own extraBody */
  extraBody?: Record<string, unknown>;
  /** defaults for requests that set no timeouts (a request's own values win, kind by kind) */
  timeouts?: { firstByteMs?: number; idleMs?: number; totalMs?: number };
  /** the monotonic absolute clock; default performance.timeOrigin + performance.now() */
  now?: () => number;
}

export interface HttpTransport extends Transport {
  close(): Promise<void>;
}

const monotonicNow = (): number => performance.timeOrigin + performance.now();

/**
 * Sent with every request: servelab's simulator then adds its `servelab: {arrival_ms,
 * first_token_ms}` object to the usage chunk / body (read into serverFirstTokenMs); without it
 * the simulator sends only what vLLM would. A real server ignores the header.
 */
export const SERVELAB_TIMING_HEADER = 'x-servelab-timing';

type Cut = 'timeout_first_byte' | 'timeout_idle' | 'timeout_total' | 'aborted';

/**
 * The most of a response body kept in memory (an error body or a non-streamed answer); the rest
 * is read and counted but dropped, so the connection stays reusable and memory stays bounded.
 */
export const BODY_KEEP_MAX_CHARS = 16 * 1024 * 1024;

/**
 * An OpenAI-compatible Transport over undici. `call` never rejects: every failure is a
 * CallResult with status 'error' (no usable output) or 'incomplete' (the stream started and was
 * cut). Each SSE read is stamped once with the monotonic clock and that time is given to every
 * event parsed from it.
 */
export function createHttpTransport(opts: HttpTransportOptions = {}): HttpTransport {
  const now = opts.now ?? monotonicNow;
  const pools = new Map<string, Pool>();

  function poolFor(origin: string): Pool {
    let p = pools.get(origin);
    if (!p) {
      p = new Pool(origin, {
        connections: opts.connections ?? null,
        pipelining: 1,
        // timeouts are ours (typed, per request), not undici's defaults of 300 s
        headersTimeout: 0,
        bodyTimeout: 0,
        keepAliveTimeout: 30_000,
      });
      pools.set(origin, p);
    }
    return p;
  }

  async function call(req: CallRequest): Promise<CallResult> {
    const seen: { routerQueueMs?: number } = {};
    const r = await callOnce(req, seen);
    if (seen.routerQueueMs !== undefined) r.routerQueueMs = seen.routerQueueMs;
    return r;
  }

  async function callOnce(req: CallRequest, seen: { routerQueueMs?: number }): Promise<CallResult> {
    const sentMs = now();
    let url: URL;
    try {
      url = new URL(req.endpoint.baseUrl.replace(/\/+$/, '') + apiPath(req.api));
    } catch {
      return failed(sentMs, now(), {
        kind: 'bad_request',
        message: `bad base URL "${req.endpoint.baseUrl}": give one like http://127.0.0.1:8000/v1`,
        retryable: false,
      });
    }
    const where = `[POST] "${url.href}"`;
    const hostPort = url.host;
    const body = buildBody(
      opts.extraBody ? { ...req, extraBody: { ...opts.extraBody, ...req.extraBody } } : req,
    );
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: req.stream ? 'text/event-stream' : 'application/json',
      // asks servelab's simulator for its own timing object (serverFirstTokenMs); vLLM ignores it
      [SERVELAB_TIMING_HEADER]: '1',
      ...opts.headers,
      ...req.extraHeaders,
    };
    const key = req.apiKey ?? opts.apiKey;
    if (key) headers.authorization = `Bearer ${key}`;

    const ac = new AbortController();
    let cut: Cut | undefined;
    const cutWith = (why: Cut) => {
      if (cut === undefined) {
        cut = why;
        ac.abort();
      }
    };
    const firstByteMs = req.timeouts?.firstByteMs ?? opts.timeouts?.firstByteMs;
    const idleMs = req.timeouts?.idleMs ?? opts.timeouts?.idleMs;
    const totalMs = req.timeouts?.totalMs ?? opts.timeouts?.totalMs;
    const limits = { firstByteMs, idleMs, totalMs };
    // One timer watches the wait for the next byte (first byte, then each gap). A read only
    // notes its time; the timer, when it fires early, re-arms itself for the rest of the limit.
    let lastReadAt = performance.now();
    let gotFirst = false;
    let settled = false;
    let waitTimer: NodeJS.Timeout | undefined;
    const armWait = () => {
      const limit = gotFirst ? idleMs : firstByteMs;
      if (settled || !limit || !(limit > 0)) return;
      const due = lastReadAt + limit - performance.now();
      if (due <= 0) {
        cutWith(gotFirst ? 'timeout_idle' : 'timeout_first_byte');
        return;
      }
      waitTimer = setTimer(armWait, Math.ceil(due));
    };
    armWait();
    /** a read of the response: the first one (the body of a stream, else the headers) ends the first-byte wait */
    const touch = (first: boolean) => {
      lastReadAt = performance.now();
      if (first && !gotFirst) {
        gotFirst = true;
        if (waitTimer) clearTimeout(waitTimer);
        waitTimer = undefined;
        armWait();
      }
      req.onActivity?.();
    };
    const touchBody = () => touch(true);
    const totalAt = totalMs && totalMs > 0 ? performance.now() + totalMs : undefined;
    let totalTimer: NodeJS.Timeout | undefined;
    const armTotal = () => {
      if (totalAt === undefined || settled) return;
      const due = totalAt - performance.now();
      if (due <= 0) cutWith('timeout_total');
      else totalTimer = setTimer(armTotal, Math.ceil(due));
    };
    armTotal();
    const onUserAbort = () => cutWith('aborted');
    if (req.signal) {
      if (req.signal.aborted) cutWith('aborted');
      else req.signal.addEventListener('abort', onUserAbort, { once: true });
    }

    const st = newStreamState();
    let headersMs: number | undefined;
    try {
      const res = await poolFor(url.origin).request({
        path: url.pathname + url.search,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      headersMs = now();
      // the program-aware router (servelab's, src/router/proxy.ts) says how long the call waited there
      const rq = Number(res.headers['x-servelab-router-queue-ms']);
      if (res.headers['x-servelab-router-queue-ms'] !== undefined && Number.isFinite(rq))
        seen.routerQueueMs = rq;
      const answered = res.statusCode < 200 || res.statusCode >= 300 || !req.stream;
      // a stream's headers come before any work is done (vLLM sends them at once): its first
      // byte is the first body read; an error or a non-streamed answer is complete at its headers
      touch(answered);
      if (answered) {
        const body = await readBoundedBody(res.body, BODY_KEEP_MAX_CHARS, touchBody);
        if (res.statusCode < 200 || res.statusCode >= 300) {
          const e = httpError(res.statusCode, body.text, where);
          if (body.cut > 0) e.messageChars = Math.max(e.messageChars ?? 0, body.text.length + body.cut);
          return failed(sentMs, now(), e, headersMs);
        }
        if (body.cut > 0)
          return failed(
            sentMs,
            now(),
            {
              kind: 'malformed',
              message: `${where}: the answer is over ${BODY_KEEP_MAX_CHARS} characters (${body.text.length + body.cut}); not read`,
              retryable: false,
            },
            headersMs,
          );
        return nonStreamed(req, body.text, sentMs, headersMs, now(), where);
      }
      let problem: CallError | undefined;
      let tNow = 0;
      const parser = createParser({
        onEvent(ev: EventSourceMessage) {
          if (problem || st.done) return;
          const data = ev.data;
          if (data === '[DONE]') {
            st.done = true;
            return;
          }
          if (applyFastContent(st, data, tNow)) return;
          let obj: unknown;
          try {
            obj = JSON.parse(data);
          } catch {
            problem = malformed(where, data);
            return;
          }
          if (!obj || typeof obj !== 'object') {
            problem = malformed(where, data);
            return;
          }
          const o = obj as Record<string, unknown>;
          if (o.error !== undefined && o.choices === undefined) {
            if (st.firstChunkMs === undefined) st.firstChunkMs = tNow;
            problem = inStreamError(o, where);
            return;
          }
          if (!applyChunk(st, o, tNow)) problem = malformed(where, data);
        },
      });
      const decoder = new TextDecoder();
      for await (const buf of res.body) {
        tNow = now();
        touchBody();
        parser.feed(decoder.decode(buf as Uint8Array, { stream: true }));
        // after [DONE] keep reading to the end of the response so the connection is reused
        if (problem) break;
      }
      if (!problem && !st.done) {
        tNow = now();
        parser.feed(decoder.decode());
        parser.reset({ consume: true });
      }
      const endMs = now();
      if (problem) return finishStream(req, st, sentMs, headersMs, endMs, problem);
      if (!st.done) {
        if (cut) return finishStream(req, st, sentMs, headersMs, endMs, cutError(cut, where, limits));
        return finishStream(req, st, sentMs, headersMs, endMs, {
          kind: 'no_done',
          message: `${where}: the stream ended without "data: [DONE]" (cut by the server or a proxy)`,
          retryable: true,
        });
      }
      return finishStream(req, st, sentMs, headersMs, endMs, undefined);
    } catch (err) {
      const endMs = now();
      const e = cut ? cutError(cut, where, limits) : networkError(err, hostPort, where);
      return finishStream(req, st, sentMs, headersMs, endMs, e);
    } finally {
      settled = true;
      if (waitTimer) clearTimeout(waitTimer);
      if (totalTimer) clearTimeout(totalTimer);
      req.signal?.removeEventListener('abort', onUserAbort);
    }
  }

  async function close(): Promise<void> {
    const all = [...pools.values()];
    pools.clear();
    await Promise.all(all.map((p) => p.destroy().catch(() => undefined)));
  }

  return { call, close };
}

function malformed(where: string, data: string): CallError {
  const shown = data.length > 120 ? `${data.slice(0, 120)}...` : data;
  return { kind: 'malformed', message: `${where}: malformed chunk: ${shown}`, retryable: true };
}

function cutError(
  cut: Cut,
  where: string,
  limits: { firstByteMs?: number | undefined; idleMs?: number | undefined; totalMs?: number | undefined },
): CallError {
  if (cut === 'aborted')
    return { kind: 'aborted', message: `${where}: aborted by the caller`, retryable: false };
  if (cut === 'timeout_first_byte')
    return {
      kind: 'timeout_first_byte',
      message: `${where}: no response within ${limits.firstByteMs} ms (first-byte timeout)`,
      retryable: true,
    };
  if (cut === 'timeout_idle')
    return {
      kind: 'timeout_idle',
      message: `${where}: the response stopped: no byte for ${limits.idleMs} ms (idle timeout)`,
      retryable: true,
    };
  return {
    kind: 'timeout_total',
    message: `${where}: not finished within ${limits.totalMs} ms (total timeout)`,
    retryable: true,
  };
}

function nonStreamed(
  req: CallRequest,
  text: string,
  sentMs: number,
  headersMs: number,
  endMs: number,
  where: string,
): CallResult {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return failed(sentMs, endMs, malformed(where, text), headersMs);
  }
  const choice = Array.isArray(obj?.choices)
    ? (obj.choices[0] as Record<string, unknown> | undefined)
    : undefined;
  if (!choice) return failed(sentMs, endMs, malformed(where, text), headersMs);
  const msg = choice.message as Record<string, unknown> | undefined;
  const content = msg ? msg.content : choice.text;
  const reasoning = msg ? (msg.reasoning_content ?? msg.reasoning) : undefined;
  const toolCalls = msg && Array.isArray(msg.tool_calls) ? (msg.tool_calls as CallResult['toolCalls']) : [];
  const finishReason = typeof choice.finish_reason === 'string' ? choice.finish_reason : undefined;
  const ans = normaliseAnswer({
    content: typeof content === 'string' ? content : '',
    contentNull: typeof content !== 'string',
    reasoningField: typeof reasoning === 'string' ? reasoning : '',
    toolCalls: toolCalls.map((t) => ({
      id: String(t.id ?? ''),
      type: 'function',
      function: { name: String(t.function?.name ?? ''), arguments: String(t.function?.arguments ?? '') },
    })),
    ...(finishReason !== undefined ? { finishReason } : {}),
  });
  const usage = readUsage(obj.usage);
  const server = readServerFirstTokenMs(obj);
  const res: CallResult = {
    status: 'ok',
    sentMs,
    firstByteMs: headersMs,
    lastTokenMs: endMs,
    endMs,
    chunkMs: [],
    text: ans.text,
    reasoning: ans.reasoning,
    toolCalls: ans.toolCalls,
    ...(ans.finishReason !== undefined ? { finishReason: recordedFinishReason(ans.finishReason) } : {}),
    ...(usage ? { usage } : {}),
    quirks: ans.quirks as Quirk[],
    ...(server !== undefined ? { serverFirstTokenMs: server } : {}),
  };
  countQuirks(req, res);
  return res;
}

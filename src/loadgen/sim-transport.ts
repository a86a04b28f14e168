import { httpError } from '../client/errors.js';
import { buildBody } from '../client/request-body.js';
import { failed, finishStream } from '../client/result.js';
import { applyChunk, newStreamState, readUsage } from '../client/stream-state.js';
import type { VirtualClock } from '../sim/clock.js';
import type { ChoiceFinish, OutputDelta, RequestHandle, ServiceSink, SimService } from '../sim/service.js';
import type { CallError, CallRequest, CallResult, Endpoint, Transport } from './transport.js';

/**
 * A Transport that drives the simulator in-process in virtual time: no sockets, no sleeping.
 * Every time in its results is virtual ms. The load generator runs on it through `now`,
 * `sleepUntil` and `drive` (which advances the clock one instant at a time, letting promise
 * continuations, i.e. the dispatcher, react at that instant before time moves on).
 * Transport-level faults of the simulator (stream_cut, malformed_chunk, missing_done) and
 * timeouts are applied here the way the HTTP client sees them.
 */
export interface SimTransport extends Transport {
  now(): number;
  sleepUntil(atMs: number, signal?: AbortSignal): Promise<void>;
  drive<T>(work: Promise<T>): Promise<T>;
}

export interface SimTransportOptions {
  clock: VirtualClock;
  /** the service behind an endpoint (one service for every endpoint when a single one is given) */
  services: SimService | ((endpoint: Endpoint) => SimService | undefined);
}

type Obj = Record<string, unknown>;

/** drive(): a real event-loop turn every this many virtual instants (the others hop by nextTick) */
const YIELD_EVERY = 64;

function deltaObj(d: OutputDelta | undefined, finish: string | null): Obj {
  const delta: Obj = {};
  if (d?.content !== undefined) delta.content = d.content;
  if (d?.reasoning !== undefined) delta.reasoning_content = d.reasoning;
  if (d?.toolCalls && d.toolCalls.length > 0)
    delta.tool_calls = d.toolCalls.map((t) => ({
      index: t.index,
      ...(t.id !== undefined ? { id: t.id, type: 'function' } : {}),
      function: {
        ...(t.name !== undefined ? { name: t.name } : {}),
        ...(t.arguments !== undefined ? { arguments: t.arguments } : {}),
      },
    }));
  return { choices: [{ index: 0, delta, finish_reason: finish }] };
}

export function createSimTransport(opts: SimTransportOptions): SimTransport {
  const clock = opts.clock;
  const open = new Set<(e: CallError) => void>();
  // cancel only what has not fired (VirtualClock counts a late cancel as one event less)
  const schedule = (atMs: number, fn: () => void): (() => void) => {
    let fired = false;
    const cancel = clock.schedule(atMs, () => {
      fired = true;
      fn();
    });
    return () => {
      if (!fired) cancel();
    };
  };

  function call(req: CallRequest): Promise<CallResult> {
    const sentMs = clock.nowMs();
    const where = `[sim] ${req.endpoint.label ?? req.endpoint.baseUrl}`;
    const svc = typeof opts.services === 'function' ? opts.services(req.endpoint) : opts.services;
    if (!svc)
      return Promise.resolve(
        failed(sentMs, sentMs, {
          kind: 'refused',
          message: `${where}: no simulated server for this endpoint`,
          retryable: true,
        }),
      );
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.extraHeaders ?? {})) headers[k.toLowerCase()] = v;
    const st = newStreamState();
    let headersMs: number | undefined;
    let chunks = 0;
    let handle: RequestHandle | undefined;
    let settled = false;
    const cancels: (() => void)[] = [];
    return new Promise<CallResult>((resolve) => {
      const settle = (err: CallError | undefined, nonStreamed?: ChoiceFinish) => {
        if (settled) return;
        settled = true;
        open.delete(cut);
        for (const c of cancels) c();
        req.signal?.removeEventListener('abort', onAbort);
        const endMs = clock.nowMs();
        // the client went away (as an HTTP client closing its socket would); no_done: the server had finished
        if (err && err.kind !== 'no_done') handle?.abort();
        if (nonStreamed && !err) {
          const o = nonStreamed.output;
          const rObj: Obj = {
            choices: [
              {
                delta: {
                  ...(o.content !== null ? { content: o.content } : {}),
                  ...(o.reasoning !== null ? { reasoning_content: o.reasoning } : {}),
                  ...(o.toolCalls.length
                    ? {
                        tool_calls: o.toolCalls.map((t, index) => ({
                          index,
                          id: t.id,
                          function: { name: t.name, arguments: t.arguments },
                        })),
                      }
                    : {}),
                },
                finish_reason: nonStreamed.finishReason,
              },
            ],
          };
          applyChunk(st, rObj, endMs);
          // a non-streamed answer has no chunk times
          st.chunkMs = [];
          delete st.firstChunkMs;
          delete st.firstTokenMs;
          st.lastTokenMs = endMs;
        }
        resolve(finishStream(req, st, sentMs, headersMs, endMs, err));
      };
      const cut = (e: CallError) => settle(e);
      open.add(cut);
      const onAbort = () =>
        settle({ kind: 'aborted', message: `${where}: aborted by the caller`, retryable: false });
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const fb = req.timeouts?.firstByteMs;
      const total = req.timeouts?.totalMs;
      if (fb && fb > 0)
        cancels.push(
          schedule(sentMs + fb, () => {
            if (st.firstChunkMs === undefined && !(headersMs !== undefined && !req.stream))
              settle({
                kind: 'timeout_first_byte',
                message: `${where}: no response within ${fb} ms (first-byte timeout)`,
                retryable: true,
              });
          }),
        );
      if (total && total > 0)
        cancels.push(
          schedule(sentMs + total, () =>
            settle({
              kind: 'timeout_total',
              message: `${where}: not finished within ${total} ms (total timeout)`,
              retryable: true,
            }),
          ),
        );
      // the idle timeout, as the HTTP client keeps it: after a stream's first chunk, no gap between
      // two chunks longer than idleMs (an engine stall, the hang fault). One event watches the gap
      // and, when it fires early, re-arms itself for the rest of the limit.
      const idle = req.stream ? req.timeouts?.idleMs : undefined;
      let lastChunkMs: number | undefined;
      let idleArmed = false;
      const armIdle = (atMs: number) => {
        idleArmed = true;
        cancels.push(
          schedule(atMs, () => {
            idleArmed = false;
            if (settled || lastChunkMs === undefined || !idle) return;
            const due = lastChunkMs + idle;
            if (due > clock.nowMs()) armIdle(due);
            else
              settle({
                kind: 'timeout_idle',
                message: `${where}: the response stopped: no byte for ${idle} ms (idle timeout)`,
                retryable: true,
              });
          }),
        );
      };
      /** one SSE chunk as the HTTP front would write it; false when a fault ends the stream here */
      const chunk = (obj: Obj, now: number): boolean => {
        chunks++;
        lastChunkMs = now;
        if (idle && idle > 0 && !idleArmed) armIdle(now + idle);
        req.onActivity?.();
        const f = handle?.fault;
        if (f?.kind === 'stream_cut' && chunks > f.afterChunks) {
          settle({
            kind: 'reset',
            message: `${where}: connection closed or reset (stream_cut)`,
            retryable: true,
          });
          return false;
        }
        if (f?.kind === 'malformed_chunk' && chunks === f.afterChunks + 1) {
          if (st.firstChunkMs === undefined) st.firstChunkMs = now;
          settle({
            kind: 'malformed',
            message: `${where}: malformed chunk (malformed_chunk)`,
            retryable: true,
          });
          return false;
        }
        applyChunk(st, obj, now);
        return true;
      };
      // as the HTTP front (and vLLM): a chat stream's role chunk goes out with the first token
      let roleDue = false;
      const roleChunk = (now: number): boolean => {
        if (!roleDue) return true;
        roleDue = false;
        return chunk(
          { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
          now,
        );
      };
      const sink: ServiceSink = {
        start(meta, now) {
          headersMs = now;
          roleDue = req.stream === true && meta.kind === 'chat';
        },
        stalled(now) {
          if (!settled) roleChunk(now);
        },
        finish(_choice, f, now) {
          if (settled) return;
          if (!req.stream) {
            pendingFinish = f;
            return;
          }
          if (roleChunk(now)) chunk(deltaObj(f.lastDelta, f.finishReason), now);
        },
        done(usage, timing, now) {
          if (settled) return;
          const u = readUsage(usage);
          if (u) st.usage = u;
          if (timing.first_token_ms !== null) st.serverFirstTokenMs = timing.first_token_ms;
          if (req.stream) {
            if (!roleChunk(now)) return;
            if (!st.firstChunkMs) st.firstChunkMs = now;
            if (handle?.fault?.kind === 'missing_done')
              return settle({
                kind: 'no_done',
                message: `${where}: the stream ended without "data: [DONE]"`,
                retryable: true,
              });
          }
          settle(undefined, req.stream ? undefined : pendingFinish);
        },
        error(err) {
          if (settled) return;
          if (st.firstChunkMs !== undefined)
            settle({
              kind: 'reset',
              message: `${where}: connection closed (server error mid-stream)`,
              retryable: true,
            });
          else {
            settled = true;
            open.delete(cut);
            for (const c of cancels) c();
            req.signal?.removeEventListener('abort', onAbort);
            resolve(failed(sentMs, clock.nowMs(), httpError(err.status, JSON.stringify(err.body), where)));
          }
        },
      };
      let pendingFinish: ChoiceFinish | undefined;
      if (req.stream)
        sink.delta = (_choice, d, now) => {
          if (!settled && roleChunk(now)) chunk(deltaObj(d, null), now);
        };
      const body = buildBody(req);
      handle = req.api === 'chat' ? svc.chat(body, headers, sink) : svc.completion(body, headers, sink);
    });
  }

  function sleepUntil(atMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const cancel = schedule(atMs, done);
      function done() {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        cancel();
        done();
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  function drive<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const watched = work.finally(() => {
        settled = true;
      });
      watched.catch(() => undefined);
      // Between two instants every promise continuation must have run (the dispatcher reacts
      // at the instant). A nextTick queued from a microtask runs once the microtask queue is
      // empty (Node drains nextTicks, then all microtasks, and repeats), so it is that point
      // without a trip through the event loop; nothing on this path queues nextTicks of its
      // own. (Queued from a nextTick callback it would run before the microtasks: `step` hops
      // through a microtask first.) Every YIELD_EVERY instants a real macrotask (setImmediate,
      // as every instant used to) lets timers and I/O in: progress lines, signals.
      let sinceYield = 0;
      const hop = (): void => {
        if (++sinceYield >= YIELD_EVERY) {
          sinceYield = 0;
          setImmediate(step);
        } else process.nextTick(step);
      };
      const step = (): void => {
        if (settled) {
          resolve(watched);
          return;
        }
        try {
          const next = clock.horizonMs();
          if (Number.isFinite(next)) clock.runUntil(next);
          else if (open.size > 0) {
            // nothing left in virtual time can end these calls (a hang without a timeout)
            for (const cut of [...open])
              cut({
                kind: 'timeout_total',
                message: '[sim] the simulator will never answer (hang) and no timeout was set',
                retryable: true,
              });
          } else {
            // waiting on something outside virtual time
            setTimeout(hop, 1);
            return;
          }
        } catch (err) {
          reject(err);
          return;
        }
        queueMicrotask(hop);
      };
      queueMicrotask(hop);
    });
  }

  return { call, now: () => clock.nowMs(), sleepUntil, drive };
}

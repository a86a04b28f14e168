/**
 * The program-aware router in-process, on the same (virtual) clock as the engines behind it: the
 * pure core (core.ts) driven by a scrape + tick loop on that clock, with each backend's KV
 * capacity and usage read from a function (the engine's snapshot) instead of its /metrics page,
 * and calls passed through a Transport instead of a socket. What the HTTP proxy does per call is
 * done here the same way: the program id from the body's `program_id` (else `job_id`),
 * `program_id` stripped before forwarding, the call held while its program is paused, then sent
 * to the program's backend; the time it waited comes back as `routerQueueMs` on the result.
 *
 *   const r = createInProcessRouter({ clock, backends: [{ id, endpoint, read }], transport, mode: 'tr' });
 *   r.transport.call({ endpoint: r.endpoint, ... })   // same CallRequest as to any server
 *   r.release(programId); r.stop();
 */
import type { CallRequest, CallResult, Endpoint, Transport } from '../loadgen/transport.js';
import type { Clock } from '../sim/engine-api.js';
import { RouterCore, type RouterCoreOptions, type RouterMode } from './core.js';
import type { Placement } from './placement.js';

export interface InProcessBackend {
  /** the id the core knows it by (its origin URL) */
  id: string;
  /** where its calls go (the engine's own endpoint) */
  endpoint: Endpoint;
  /** what a scrape of its /metrics would say: num_gpu_blocks x block_size, kv_cache_usage_perc */
  read(): { capacityTokens: number; kvUsageFrac: number };
}

export interface InProcessRouterOptions {
  clock: Clock;
  backends: readonly InProcessBackend[];
  /** the transport to the backends */
  transport: Transport;
  /** the endpoint the router answers as (its model name is the backends') */
  endpoint: Endpoint;
  mode?: RouterMode;
  placement?: Placement;
  decodeReserveTokens?: number;
  kvPauseAtFrac?: number;
  kvResumeBelowFrac?: number;
  /** scrape + tick interval (default 5000 ms, ThunderAgent's scheduler_interval) */
  intervalMs?: number;
}

export interface InProcessRouter {
  core: RouterCore;
  endpoint: Endpoint;
  /** calls to `endpoint` go through the router; any other endpoint straight to `transport` */
  transport: Transport;
  release(programId: string): boolean;
  /** scrape every backend and run one tick now */
  tickNow(): void;
  stop(): void;
}

/** Characters of a request's messages (what the core estimates tokens from before any usage). */
function bodyChars(req: CallRequest): number {
  let n = req.prompt?.length ?? 0;
  for (const m of req.messages ?? []) {
    if (typeof m.content === 'string') n += m.content.length;
    else if (Array.isArray(m.content)) for (const p of m.content) n += p.text.length;
    for (const t of m.tool_calls ?? []) n += t.function.name.length + t.function.arguments.length;
    n += 16;
  }
  return n;
}

function programIdOf(extra: Record<string, unknown> | undefined): string | undefined {
  const v = extra?.program_id ?? extra?.job_id;
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export function createInProcessRouter(o: InProcessRouterOptions): InProcessRouter {
  const clock = o.clock;
  const intervalMs = o.intervalMs ?? 5000;
  const coreOpts: RouterCoreOptions = {
    clock,
    backends: o.backends.map((b) => b.id),
    ...(o.mode ? { mode: o.mode } : {}),
    ...(o.placement ? { placement: o.placement } : {}),
    ...(o.decodeReserveTokens !== undefined ? { decodeReserveTokens: o.decodeReserveTokens } : {}),
    ...(o.kvPauseAtFrac !== undefined ? { kvPauseAtFrac: o.kvPauseAtFrac } : {}),
    ...(o.kvResumeBelowFrac !== undefined ? { kvResumeBelowFrac: o.kvResumeBelowFrac } : {}),
  };
  const core = new RouterCore(coreOpts);
  const byId = new Map(o.backends.map((b) => [b.id, b]));
  const routerBase = o.endpoint.baseUrl;

  const tickNow = () => {
    for (const b of o.backends) core.updateBackend(b.id, { healthy: true, ...b.read() });
    core.tick();
  };
  // the first scrape at start (as startRouter does), then one tick per interval
  tickNow();
  let stopped = false;
  let cancel: (() => void) | undefined;
  const loop = () => {
    if (stopped) return;
    tickNow();
    cancel = clock.schedule(clock.nowMs() + intervalMs, loop);
  };
  cancel = clock.schedule(clock.nowMs() + intervalMs, loop);

  const call = (req: CallRequest): Promise<CallResult> => {
    if (req.endpoint.baseUrl !== routerBase) return o.transport.call(req);
    const programId = programIdOf(req.extraBody);
    let extraBody = req.extraBody;
    if (extraBody && 'program_id' in extraBody) {
      const { program_id: _stripped, ...rest } = extraBody;
      extraBody = rest;
    }
    const arrived = clock.nowMs();
    return new Promise<CallResult>((resolve) => {
      let callId = 0;
      let granted = false;
      const onAbort = () => {
        if (granted) return;
        granted = true;
        core.endCall(callId);
        const now = clock.nowMs();
        resolve({
          status: 'error',
          error: {
            kind: 'aborted',
            message: '[router] aborted while waiting at the router',
            retryable: false,
          },
          sentMs: arrived,
          endMs: now,
          chunkMs: [],
          text: '',
          reasoning: '',
          toolCalls: [],
          quirks: [],
          routerQueueMs: now - arrived,
        });
      };
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      callId = core.beginCall(programId, bodyChars(req), (g) => {
        if (granted) return;
        granted = true;
        req.signal?.removeEventListener('abort', onAbort);
        const backend = byId.get(g.backend) ?? o.backends[0]!;
        const total = req.timeouts?.totalMs;
        // the client's total timeout counts from its send, the router wait included
        const timeouts =
          total && total > 0 ? { ...req.timeouts, totalMs: Math.max(1, total - g.queueMs) } : req.timeouts;
        const fwd: CallRequest = {
          ...req,
          endpoint: { ...backend.endpoint, label: req.endpoint.label ?? backend.endpoint.label ?? '' },
          ...(extraBody ? { extraBody } : {}),
          ...(timeouts ? { timeouts } : {}),
        };
        o.transport.call(fwd).then((r) => {
          core.endCall(
            g.callId,
            r.usage
              ? { promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens }
              : undefined,
          );
          resolve({ ...r, sentMs: arrived, routerQueueMs: g.queueMs });
        });
      });
    });
  };

  return {
    core,
    endpoint: o.endpoint,
    transport: { call },
    release: (id) => core.release(id),
    tickNow,
    stop: () => {
      stopped = true;
      cancel?.();
    },
  };
}

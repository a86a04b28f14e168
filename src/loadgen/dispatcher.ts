import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { setTimer } from '../timers.js';
import type { WorkloadItem } from '../workload/item.js';
import { type ArrivalSpec, concurrencyCap } from './arrivals.js';
import { toRecord } from './record.js';
import type { RequestRecord } from './records.js';
import type { CallRequest, Transport } from './transport.js';

/** Live counters bumped on the hot path; a timer elsewhere reads them for the progress line. */
export interface LiveCounters {
  sent: number;
  done: number;
  ok: number;
  errors: number;
  incomplete: number;
  outputTokens: number;
  inFlight: number;
}

export function newCounters(): LiveCounters {
  return { sent: 0, done: 0, ok: 0, errors: 0, incomplete: 0, outputTokens: 0, inFlight: 0 };
}

export interface DispatchPlan {
  arrivals: ArrivalSpec;
  /** requests to send: global indices first, first + stride, ... (count of them; may be huge with durationMs) */
  count: number;
  first?: number;
  stride?: number;
  /** open loop: due offset (ms from start) of each of the count requests; ignored for closed loop */
  offsetsMs?: ArrayLike<number>;
  /** closed loop / burst: stop issuing new requests this long after the start */
  durationMs?: number;
  /** requests with a global index below this are warm-up (recorded, excluded from results) */
  warmupCount: number;
  stage: number;
  /** concurrency cap override (a worker's share of the cap) */
  cap?: number;
}

export interface DispatchDeps {
  transport: Transport;
  /** the request and its workload item for global index i (the dispatcher adds the signal) */
  request: (i: number) => { req: CallRequest; item: Pick<WorkloadItem, 'promptTokens' | 'outputTokens'> };
  onRecord: (r: RequestRecord) => void;
  /** stop dispatching when aborted; in-flight requests get `graceMs` to finish, then are cut */
  signal?: AbortSignal;
  graceMs?: number;
  now?: () => number;
  /** a virtual-time sleep (the in-process simulator); default: real timers */
  sleepUntil?: (atMs: number, signal: AbortSignal) => Promise<void>;
  /** a shared start (absolute ms) when several dispatchers (workers) run one schedule */
  startMs?: number;
  counters?: LiveCounters;
}

export interface DispatchOutcome {
  startMs: number;
  endMs: number;
  dispatched: number;
  /** time-weighted mean of requests in flight over [startMs, endMs] */
  meanInFlight: number;
  maxInFlight: number;
  interrupted: boolean;
}

const monotonicNow = () => performance.timeOrigin + performance.now();

/**
 * Sends a plan's requests through a transport and records each as it finishes. The scheduled
 * time of every request is kept next to its sent time, so lateness (timer slip, a busy event
 * loop, or waiting for a concurrency slot) is recorded as schedule lag, never hidden.
 */
export async function dispatch(plan: DispatchPlan, deps: DispatchDeps): Promise<DispatchOutcome> {
  const now = deps.now ?? monotonicNow;
  const counters = deps.counters ?? newCounters();
  const startMs = deps.startMs ?? now();
  const cut = new AbortController();
  // every in-flight request listens to it
  setMaxListeners(0, cut.signal);
  let interrupted = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = new AbortController();
  const onStop = () => {
    interrupted = true;
    stop.abort();
    wake();
    graceTimer = setTimer(() => cut.abort(), deps.graceMs ?? 5000);
    graceTimer.unref?.();
  };
  if (deps.signal?.aborted) onStop();
  else deps.signal?.addEventListener('abort', onStop, { once: true });

  let inFlight = 0;
  let maxInFlight = 0;
  let integral = 0;
  let lastT = startMs;
  const track = (delta: number) => {
    const t = now();
    integral += inFlight * (t - lastT);
    lastT = t;
    inFlight += delta;
    counters.inFlight = inFlight;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
  };
  let slotWaiters: (() => void)[] = [];
  const wake = () => {
    const w = slotWaiters;
    slotWaiters = [];
    for (const f of w) f();
  };
  const pending = new Set<Promise<void>>();

  const fire = (i: number, scheduledMs: number): Promise<void> => {
    const { req, item } = deps.request(i);
    req.signal = cut.signal;
    track(1);
    counters.sent++;
    const p = deps.transport.call(req).then((res) => {
      track(-1);
      const rec = toRecord(res, {
        i,
        warmup: i < plan.warmupCount,
        stage: plan.stage,
        endpoint: req.endpoint.label ?? req.endpoint.baseUrl,
        scheduledMs,
        item,
        streamed: req.stream,
      });
      counters.done++;
      if (rec.status === 'ok') counters.ok++;
      else if (rec.status === 'error') counters.errors++;
      else counters.incomplete++;
      counters.outputTokens += rec.outputTokens;
      deps.onRecord(rec);
      wake();
    });
    pending.add(p);
    p.finally(() => pending.delete(p));
    return p;
  };

  const n = plan.count;
  const first = plan.first ?? 0;
  const stride = plan.stride ?? 1;
  const cap = plan.cap ?? concurrencyCap(plan.arrivals);
  const openLoop = plan.arrivals.kind !== 'closed';
  let dispatched = 0;
  const waitSlot = async () => {
    while (cap !== undefined && inFlight >= cap && !interrupted)
      await new Promise<void>((r) => slotWaiters.push(r));
  };

  if (openLoop) {
    const offsets = plan.offsetsMs;
    const m = offsets ? Math.min(n, offsets.length) : n;
    for (let k = 0; k < m && !interrupted; k++) {
      const due = startMs + (offsets ? offsets[k]! : 0);
      if (plan.durationMs !== undefined && due - startMs > plan.durationMs) break;
      // sent up to 1 ms early rather than a timer tick late; the record keeps both times
      const wait = due - now();
      if (deps.sleepUntil) {
        if (wait > 0) await deps.sleepUntil(due, stop.signal);
      } else if (wait > 1) await sleep(wait, undefined, { signal: stop.signal }).catch(() => undefined);
      await waitSlot();
      if (interrupted) break;
      fire(first + k * stride, due);
      dispatched++;
    }
  } else {
    let next = 0;
    const user = async () => {
      while (!interrupted && next < n) {
        if (plan.durationMs !== undefined && now() - startMs > plan.durationMs) break;
        const i = first + next++ * stride;
        dispatched++;
        await fire(i, now());
      }
    };
    await Promise.all(Array.from({ length: Math.min(cap ?? 1, n) }, user));
  }
  while (pending.size > 0) await Promise.all([...pending]);
  if (graceTimer) clearTimeout(graceTimer);
  deps.signal?.removeEventListener('abort', onStop);
  const endMs = now();
  integral += inFlight * (endMs - lastT);
  return {
    startMs,
    endMs,
    dispatched,
    meanInFlight: endMs > startMs ? integral / (endMs - startMs) : 0,
    maxInFlight,
    interrupted,
  };
}

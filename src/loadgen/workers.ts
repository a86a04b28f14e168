import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ServelabError } from '../errors.js';
import type { WorkloadItem } from '../workload/item.js';
import { concurrencyCap } from './arrivals.js';
import type { DispatchOutcome, DispatchPlan, LiveCounters } from './dispatcher.js';
import type { RequestRecord } from './records.js';
import type { RequestTemplate } from './requests.js';
import type { LoopCheck } from './self-check.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-entry.js';

/** The compiled worker entry: beside this file in dist/, or dist/ when running from src/ (tsx, vitest). */
export function workerEntryPath(): string {
  const here = import.meta.url;
  const url = here.endsWith('.js')
    ? new URL('./worker-entry.js', here)
    : new URL('../../dist/loadgen/worker-entry.js', here);
  return fileURLToPath(url);
}

export function workersAvailable(): boolean {
  return existsSync(workerEntryPath());
}

/**
 * How many worker threads `--workers auto` uses: none (the main loop) below ~500 concurrent
 * streams or on a machine with fewer than 3 cores (the server usually shares it); else one per
 * 500 streams, at most cores - 1. One loop handles ~65-70k events/s of paced tokens.
 */
export function autoWorkers(concurrency: number | undefined, cores = availableParallelism()): number {
  if (concurrency === undefined || concurrency < 500 || cores < 3) return 0;
  return Math.max(2, Math.min(cores - 1, Math.ceil(concurrency / 500)));
}

export interface ShardedResult {
  outcome: DispatchOutcome;
  loops: LoopCheck[];
}

/**
 * Splits one plan across `n` workers: request k of the plan goes to worker k mod n with its due
 * time unchanged (open loop: the superposition is the same arrival process); a concurrency cap
 * is split as evenly as possible. All workers share one start time.
 */
export async function runSharded(
  plan: DispatchPlan,
  n: number,
  items: WorkloadItem[],
  template: RequestTemplate,
  deps: {
    onRecord: (r: RequestRecord) => void;
    signal?: AbortSignal;
    counters?: LiveCounters;
    graceMs?: number;
  },
): Promise<ShardedResult> {
  const entry = workerEntryPath();
  if (!existsSync(entry))
    throw new ServelabError('NOT_FOUND', `worker threads need the compiled ${entry}`, {
      hint: 'run `npm run build` first, or use --workers 0',
    });
  const cap = plan.cap ?? concurrencyCap(plan.arrivals);
  if (cap !== undefined) n = Math.min(n, cap);
  n = Math.max(1, Math.min(n, plan.count));
  const stride0 = plan.stride ?? 1;
  const first0 = plan.first ?? 0;
  const workers: Worker[] = [];
  const readies: Promise<void>[] = [];
  const dones: Promise<{ outcome: DispatchOutcome; loop: LoopCheck }>[] = [];
  for (let k = 0; k < n; k++) {
    const count = Math.floor((plan.count - k + n - 1) / n);
    let offsets: Float64Array | undefined;
    if (plan.offsetsMs) {
      const src = plan.offsetsMs;
      offsets = new Float64Array(Math.max(0, Math.floor((Math.min(plan.count, src.length) - k + n - 1) / n)));
      for (let j = 0; j < offsets.length; j++) offsets[j] = src[k + j * n]!;
    }
    const sub: DispatchPlan = {
      ...plan,
      count,
      first: first0 + k * stride0,
      stride: stride0 * n,
      ...(offsets ? { offsetsMs: offsets } : {}),
      ...(cap !== undefined ? { cap: Math.floor(cap / n) + (k < cap % n ? 1 : 0) } : {}),
    };
    const init: WorkerInit = {
      plan: sub,
      items,
      template,
      ...(cap !== undefined ? { connections: sub.cap } : {}),
      ...(deps.graceMs !== undefined ? { graceMs: deps.graceMs } : {}),
    };
    const w = new Worker(entry, { workerData: init });
    workers.push(w);
    let ready!: () => void;
    readies.push(new Promise<void>((r) => (ready = r)));
    dones.push(
      new Promise((resolve, reject) => {
        w.on('message', (m: FromWorker) => {
          if (m.type === 'ready') ready();
          else if (m.type === 'records') {
            for (const r of m.records) {
              if (deps.counters) {
                const c = deps.counters;
                c.done++;
                c.sent++;
                if (r.status === 'ok') c.ok++;
                else if (r.status === 'error') c.errors++;
                else c.incomplete++;
                c.outputTokens += r.outputTokens;
              }
              deps.onRecord(r);
            }
          } else if (m.type === 'done') resolve({ outcome: m.outcome, loop: m.loop });
        });
        w.on('error', reject);
        w.on('exit', (code) =>
          reject(new Error(`load worker ${k} exited with code ${code} before finishing`)),
        );
      }),
    );
  }
  await Promise.all(readies);
  const startMs = performance.timeOrigin + performance.now() + 5;
  for (const w of workers) w.postMessage({ type: 'start', startMs } satisfies ToWorker);
  const onStop = () => {
    for (const w of workers) w.postMessage({ type: 'stop' } satisfies ToWorker);
  };
  deps.signal?.addEventListener('abort', onStop, { once: true });
  try {
    const res = await Promise.all(dones);
    const outcome: DispatchOutcome = {
      startMs,
      endMs: Math.max(...res.map((r) => r.outcome.endMs)),
      dispatched: res.reduce((s, r) => s + r.outcome.dispatched, 0),
      meanInFlight: 0,
      maxInFlight: res.reduce((s, r) => s + r.outcome.maxInFlight, 0),
      interrupted: res.some((r) => r.outcome.interrupted),
    };
    const span = outcome.endMs - startMs;
    outcome.meanInFlight =
      span > 0
        ? res.reduce((s, r) => s + r.outcome.meanInFlight * (r.outcome.endMs - r.outcome.startMs), 0) / span
        : 0;
    return { outcome, loops: res.map((r) => r.loop) };
  } finally {
    deps.signal?.removeEventListener('abort', onStop);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

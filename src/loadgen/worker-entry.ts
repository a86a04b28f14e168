import { parentPort, workerData } from 'node:worker_threads';
import { createHttpTransport } from '../client/http-transport.js';
import type { WorkloadItem } from '../workload/item.js';
import { type DispatchPlan, dispatch } from './dispatcher.js';
import type { RequestRecord } from './records.js';
import { type RequestTemplate, requestFor } from './requests.js';
import { probeLoop } from './self-check.js';

/**
 * One shard of a load in a worker thread: its own event loop and HTTP connections. Records are
 * posted back in small batches; the main thread writes them. Runs from dist/ (compiled).
 */
export interface WorkerInit {
  plan: DispatchPlan;
  items: WorkloadItem[];
  template: RequestTemplate;
  connections?: number;
  graceMs?: number;
}

export type ToWorker = { type: 'start'; startMs: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'records'; records: RequestRecord[] }
  | {
      type: 'done';
      outcome: import('./dispatcher.js').DispatchOutcome;
      loop: import('./self-check.js').LoopCheck;
    };

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const stop = new AbortController();
  const transport = createHttpTransport(init.connections ? { connections: init.connections } : {});
  let batch: RequestRecord[] = [];
  const flush = () => {
    if (batch.length > 0) {
      port.postMessage({ type: 'records', records: batch } satisfies FromWorker);
      batch = [];
    }
  };
  const timer = setInterval(flush, 50);
  port.on('message', async (msg: ToWorker) => {
    if (msg.type === 'stop') {
      stop.abort();
      return;
    }
    const loop = probeLoop();
    const n = init.items.length;
    const outcome = await dispatch(init.plan, {
      transport,
      request: (i) => {
        const item = init.items[i % n]!;
        return { req: requestFor(item, init.template), item };
      },
      onRecord: (r) => {
        batch.push(r);
        if (batch.length >= 256) flush();
      },
      signal: stop.signal,
      startMs: msg.startMs,
      ...(init.graceMs !== undefined ? { graceMs: init.graceMs } : {}),
    });
    clearInterval(timer);
    flush();
    const l = loop.stop();
    await transport.close();
    port.postMessage({ type: 'done', outcome, loop: l } satisfies FromWorker);
    port.close();
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}

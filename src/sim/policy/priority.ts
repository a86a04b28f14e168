/**
 * vLLM V1's `--scheduling-policy priority` (v0.11 vllm/v1/core/sched/request_queue.py
 * PriorityRequestQueue and scheduler.py): the waiting queue is a heap ordered as
 * Request.__lt__, smaller `priority` first, then earlier arrival, then request id; a preempted
 * request is simply re-added (no front in a heap); the preemption victim is
 * max(running, key=(priority, arrival_time)) - which may be a request already scheduled in this
 * step: it is taken out of the step and its token budget returned (the scheduler does that).
 */
import type { SimRequest } from '../request.js';
import type { SchedulingPolicy, WaitingQueue } from './types.js';

function before(a: SimRequest, b: SimRequest): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  if (a.arrivalMs !== b.arrivalMs) return a.arrivalMs < b.arrivalMs;
  if (a.id !== b.id) return a.id < b.id;
  return a.seq < b.seq;
}

export class PriorityQueue implements WaitingQueue {
  private readonly h: SimRequest[] = [];

  get size(): number {
    return this.h.length;
  }

  push(r: SimRequest): void {
    const h = this.h;
    h.push(r);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(r, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = r;
  }

  pushFront(r: SimRequest): void {
    this.push(r);
  }

  peek(): SimRequest {
    return this.h[0]!;
  }

  popPeeked(): void {
    const h = this.h;
    const last = h.pop()!;
    if (h.length === 0) return;
    this.siftDown(0, last);
  }

  private siftDown(start: number, x: SimRequest): void {
    const h = this.h;
    const n = h.length;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[c]!, x)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = x;
  }

  remove(r: SimRequest): boolean {
    const h = this.h;
    const i = h.indexOf(r);
    if (i < 0) return false;
    const rest = h.filter((x) => x !== r);
    h.length = 0;
    for (const x of rest) this.push(x);
    return true;
  }

  toArray(): SimRequest[] {
    return this.h.slice();
  }
}

/** index of max (priority, arrival) in running; the first one on a tie, as Python's max() */
export function priorityVictim(running: readonly SimRequest[]): number {
  let best = 0;
  for (let i = 1; i < running.length; i++) {
    const a = running[i]!;
    const b = running[best]!;
    if (a.priority > b.priority || (a.priority === b.priority && a.arrivalMs > b.arrivalMs)) best = i;
  }
  return best;
}

export function createPriorityPolicy(): SchedulingPolicy {
  return {
    name: 'priority',
    queue: new PriorityQueue(),
    onArrival() {},
    beginStep() {},
    victimIndex: (running) => priorityVictim(running),
    onPreempted() {},
    onAdmitted() {},
    onFinished: () => false,
    nextDeadlineMs: () => Number.POSITIVE_INFINITY,
    stats: () => undefined,
  };
}

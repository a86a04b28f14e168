/**
 * vLLM V1's default policy (SchedulingPolicy.FCFS): the waiting queue is a deque, new requests
 * at the back, preempted ones back at the FRONT; the preemption victim is the newest running
 * request (running.pop()); a finished request's blocks are freed at once.
 */
import type { SimRequest } from '../request.js';
import type { SchedulingPolicy, WaitingQueue } from './types.js';

/** a deque as an array with a moving head: buf[head..] */
export class FcfsQueue implements WaitingQueue {
  private buf: SimRequest[] = [];
  private head = 0;

  get size(): number {
    return this.buf.length - this.head;
  }

  push(r: SimRequest): void {
    this.buf.push(r);
  }

  pushFront(r: SimRequest): void {
    if (this.head > 0) this.buf[--this.head] = r;
    else this.buf.unshift(r);
  }

  peek(): SimRequest {
    return this.buf[this.head]!;
  }

  popPeeked(): void {
    this.buf[this.head++] = undefined as unknown as SimRequest;
    if (this.head > 1024 && this.head * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.head);
      this.head = 0;
    }
  }

  remove(r: SimRequest): boolean {
    const i = this.buf.indexOf(r, this.head);
    if (i < 0) return false;
    this.buf.splice(i, 1);
    return true;
  }

  toArray(): SimRequest[] {
    return this.buf.slice(this.head);
  }
}

export function createFcfsPolicy(): SchedulingPolicy {
  return {
    name: 'fcfs',
    queue: new FcfsQueue(),
    onArrival() {},
    beginStep() {},
    victimIndex: (running) => running.length - 1,
    onPreempted() {},
    onAdmitted() {},
    onFinished: () => false,
    nextDeadlineMs: () => Number.POSITIVE_INFINITY,
    stats: () => undefined,
  };
}

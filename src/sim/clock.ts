/**
 * The engine's two time sources behind one interface (engine-api.ts `Clock`).
 * - VirtualClock: an event heap; time jumps to the next event; runUntil / runUntilIdle drive it.
 *   Ties run in scheduling order. `horizonMs()` tells the engine how far it may fast-forward
 *   without stepping over an event or the current runUntil limit.
 * - RealClock: the same heap, one armed setTimeout for the earliest event. setTimeout only has
 *   1 ms resolution and fires late, never early; we arm it for the whole milliseconds left
 *   (truncated) and, when it fires with < 0.5 ms to go, run the event up to 0.5 ms early rather
 *   than pay another timer tick (~1 ms late). No busy waiting.
 */
import type { Clock } from './engine-api.js';

const NOOP = (): void => {};

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

class EventHeap {
  private h: Ev[] = [];
  private seq = 0;
  live = 0;

  get size(): number {
    return this.h.length;
  }

  push(at: number, fn: () => void): Ev {
    const ev: Ev = { at, seq: this.seq++, fn, cancelled: false };
    const h = this.h;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(ev, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = ev;
    this.live++;
    return ev;
  }

  /** earliest live event (drops cancelled ones on the way) */
  peek(): Ev | undefined {
    const h = this.h;
    while (h.length > 0 && h[0]!.cancelled) this.popTop();
    return h[0];
  }

  pop(): Ev | undefined {
    const top = this.peek();
    if (top) {
      this.popTop();
      this.live--;
      // a cancel after the event ran is a no-op
      top.cancelled = true;
    }
    return top;
  }

  cancel(ev: Ev): void {
    if (!ev.cancelled) {
      ev.cancelled = true;
      this.live--;
    }
    // a cancelled event stays in the heap until its time comes (lazy deletion): drop its closure
    // now, or it keeps what it captured alive that long (a call's 1-hour timeout held the call's
    // whole prompt: ~2 GB at C=1,024 in virtual time)
    ev.fn = NOOP;
  }

  private popTop(): void {
    const h = this.h;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(h[r]!, h[l]!) ? r : l;
      if (!less(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}

function less(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class VirtualClock implements Clock {
  private now: number;
  private readonly heap = new EventHeap();
  private limit = Number.POSITIVE_INFINITY;

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  schedule(atMs: number, fn: () => void): () => void {
    const ev = this.heap.push(Math.max(atMs, this.now), fn);
    return () => this.heap.cancel(ev);
  }

  /** pending (not cancelled) events */
  get pending(): number {
    return this.heap.live;
  }

  /** the time of the next event or the runUntil limit, whichever is first (fast-forward bound) */
  horizonMs(): number {
    const top = this.heap.peek();
    const t = top ? top.at : Number.POSITIVE_INFINITY;
    return Math.min(t, this.limit);
  }

  /** run every event with time <= untilMs, then set the clock to untilMs */
  runUntil(untilMs: number): void {
    this.limit = untilMs;
    try {
      for (;;) {
        const top = this.heap.peek();
        if (!top || top.at > untilMs) break;
        this.heap.pop();
        this.now = top.at;
        top.fn();
      }
      if (untilMs > this.now) this.now = untilMs;
    } finally {
      this.limit = Number.POSITIVE_INFINITY;
    }
  }

  /** run until no events are left (bounded by maxEvents against runaway loops); returns events run */
  runUntilIdle(maxEvents = Number.POSITIVE_INFINITY): number {
    let n = 0;
    while (n < maxEvents) {
      const ev = this.heap.pop();
      if (!ev) break;
      this.now = ev.at;
      ev.fn();
      n++;
    }
    return n;
  }
}

/** does this clock support fast-forward (a virtual clock)? */
export function isVirtualClock(c: Clock): c is VirtualClock {
  return c instanceof VirtualClock;
}

export class RealClock implements Clock {
  private readonly heap = new EventHeap();
  private timer: NodeJS.Timeout | undefined = undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private readonly origin: number;
  private readonly offset: number;
  /** how late events ran (ms, actual - intended), for the lateness benchmark; optional */
  onLateness?: (lateMs: number) => void;

  /** startMs: the clock's value now (default: performance.now()) */
  constructor(startMs?: number) {
    this.origin = performance.now();
    this.offset = startMs ?? this.origin;
  }

  nowMs(): number {
    return performance.now() - this.origin + this.offset;
  }

  schedule(atMs: number, fn: () => void): () => void {
    const ev = this.heap.push(atMs, fn);
    if (atMs < this.armedAt) this.arm();
    return () => {
      this.heap.cancel(ev);
      if (this.heap.live === 0) this.disarm();
    };
  }

  /** stop the timer (events stay queued; schedule() re-arms) */
  stop(): void {
    this.disarm();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    this.disarm();
    const top = this.heap.peek();
    if (!top) return;
    this.armedAt = top.at;
    const delay = Math.max(0, Math.floor(top.at - this.nowMs()));
    this.timer = setTimeout(this.fire, delay);
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    for (;;) {
      const top = this.heap.peek();
      if (!top) break;
      const now = this.nowMs();
      if (top.at > now + 0.5) break;
      this.heap.pop();
      this.onLateness?.(now - top.at);
      top.fn();
    }
    if (this.heap.live > 0 && this.timer === undefined) this.arm();
  };
}

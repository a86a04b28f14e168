/**
 * The program-aware router's state machine (ThunderAgent's TR mode, and the KV-threshold variant
 * of our users' runs), pure over an injected clock: no I/O, no timers. A front (the HTTP proxy in
 * proxy.ts, or an in-process driver on the virtual clock) tells it when a call arrives and ends,
 * what the backends' /metrics said, and when to run a scheduling tick.
 *
 * A program is REASONING while a call of it is in flight or waiting, ACTING between calls (its
 * tool runs). It is placed on one backend (affinity: its calls go where its context is), or
 * paused (its next call waits at the router until it is resumed, maybe on another backend).
 *
 * Mode `tr` (ThunderAgent scheduler/router.py): a backend holds capacity = num_gpu_blocks x
 * block_size tokens (vllm:cache_config_info); it needs, per placed program, the program's tokens
 * plus a decode reserve. On overflow it pauses ACTING programs first, smallest first, then marks
 * REASONING ones (smallest first), which pause when their call ends; marked programs no longer
 * count. A new program is placed on the backend with the fewest needed tokens that has room,
 * only when no program is paused (fairness), else it waits paused.
 *
 * Mode `kv-threshold` (the users' variant): the scraped vllm:kv_cache_usage_perc decides. At
 * usage >= pauseAt (0.95) a backend is "hot": it pauses (same order) programs whose tokens add up
 * to (usage - resumeBelow) x capacity, and stays hot until its usage is below resumeBelow
 * (0.85). New programs and resumes go only to a backend below resumeBelow, into
 * (resumeBelow - usage) x capacity less what was placed there since the last scrape.
 * The users' code is not public; this is our reading of "pause at 0.95, resume below 0.85".
 *
 * Resume (both modes), each tick before the overflow check: paused programs in priority order,
 * REASONING ones first (a call waiting, not the program's first), then new programs (first call
 * waiting), then ACTING ones, each group smallest first; as many as the total room holds; placed
 * by bin packing (placement.ts, best-fit decreasing by default). A backend with no program
 * placed takes the first candidate even when it does not fit, so a program larger than a whole
 * backend cannot wait forever (ThunderAgent forces a resume after 30 minutes instead).
 *
 * Context size per program: prompt_tokens + completion_tokens of its last call when the backend
 * reported usage, else the request body's characters / a chars-per-token ratio (4 until a usage
 * is seen, then fitted from prompt_tokens as ThunderAgent does: 0.2 new + 0.8 old).
 */
import type { Clock } from '../sim/engine-api.js';
import { type Placement, placeDecreasing } from './placement.js';

export type RouterMode = 'tr' | 'kv-threshold';
export const ROUTER_MODES: readonly RouterMode[] = ['tr', 'kv-threshold'];

export interface RouterCoreOptions {
  clock: Clock;
  /** backend ids (the proxy uses their URLs), in the order ties are broken */
  backends: readonly string[];
  /** default 'tr' */
  mode?: RouterMode;
  /** tokens reserved per placed program for its decode (ThunderAgent DECODE_BUFFER: 256) */
  decodeReserveTokens?: number;
  /** kv-threshold: pause at usage >= this (default 0.95) */
  kvPauseAtFrac?: number;
  /** kv-threshold: resume and take new programs below this (default 0.85) */
  kvResumeBelowFrac?: number;
  placement?: Placement;
  /** chars per token before any usage was seen (default 4) */
  charsPerToken?: number;
}

export interface CallUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface Grant {
  /** the id beginCall returns (grant may run before beginCall returns) */
  callId: number;
  backend: string;
  /** ms the call waited at the router (paused program, or a new program waiting for room) */
  queueMs: number;
}

export type ProgramStatus = 'reasoning' | 'acting';

/** One program as GET /programs shows it. */
export interface ProgramView {
  programId: string;
  status: ProgramStatus;
  state: 'active' | 'paused';
  /** where it is placed; null while paused */
  backend: string | null;
  markedForPause: boolean;
  tokens: number;
  tokensFrom: 'usage' | 'estimate';
  /** calls begun */
  steps: number;
  callsInFlight: number;
  callsWaiting: number;
  /** sum of its calls' router queue time, and how many calls waited at all */
  queueMsTotal: number;
  queuedCalls: number;
  pauses: number;
  resumes: number;
  /** resumes onto another backend than the one it was paused from */
  migrations: number;
  /** time spent paused (ACTING or with a call waiting), the current pause included */
  pausedMsTotal: number;
}

export interface BackendView {
  id: string;
  healthy: boolean;
  capacityTokens: number | null;
  kvUsageFrac: number | null;
  /** kv-threshold: paused at >= pauseAt and not yet below resumeBelow */
  hot: boolean;
  programs: number;
  neededTokens: number;
}

export interface RouterStats {
  mode: RouterMode;
  programs: number;
  reasoning: number;
  acting: number;
  paused: number;
  markedForPause: number;
  /** calls without program_id / job_id: forwarded unscheduled */
  unscheduledCalls: number;
  pausesTotal: number;
  resumesTotal: number;
  backends: BackendView[];
}

interface Call {
  id: number;
  programId: string | undefined;
  arrivedMs: number;
  bodyChars: number;
  grant: (g: Grant) => void;
  granted: boolean;
}

interface Program {
  id: string;
  backend: string | undefined;
  origin: string | undefined;
  paused: boolean;
  marked: boolean;
  inFlight: number;
  waiting: Call[];
  tokens: number;
  tokensFrom: 'usage' | 'estimate';
  steps: number;
  queueMsTotal: number;
  queuedCalls: number;
  pauses: number;
  resumes: number;
  migrations: number;
  pausedSinceMs: number | undefined;
  pausedMsTotal: number;
}

interface Backend {
  id: string;
  healthy: boolean;
  capacityTokens: number | undefined;
  kvUsageFrac: number | undefined;
  hot: boolean;
  /** kv-threshold: tokens placed since the last scrape (the usage figure does not show them yet) */
  placedSinceScrape: number;
  unscheduled: number;
}

export class RouterCore {
  readonly mode: RouterMode;
  private readonly clock: Clock;
  private readonly reserve: number;
  private readonly pauseAt: number;
  private readonly resumeBelow: number;
  private readonly placement: Placement;
  private charsPerToken: number;
  private ratioFitted = false;
  private readonly backends = new Map<string, Backend>();
  private readonly programs = new Map<string, Program>();
  private readonly calls = new Map<number, Call>();
  private nextCallId = 1;
  private unscheduledCalls = 0;
  private pausesTotal = 0;
  private resumesTotal = 0;

  constructor(o: RouterCoreOptions) {
    if (o.backends.length === 0) throw new Error('RouterCore needs at least one backend');
    this.clock = o.clock;
    this.mode = o.mode ?? 'tr';
    this.reserve = o.decodeReserveTokens ?? 256;
    this.pauseAt = o.kvPauseAtFrac ?? 0.95;
    this.resumeBelow = o.kvResumeBelowFrac ?? 0.85;
    this.placement = o.placement ?? 'best-fit';
    this.charsPerToken = o.charsPerToken ?? 4;
    for (const id of o.backends)
      this.backends.set(id, {
        id,
        healthy: true,
        capacityTokens: undefined,
        kvUsageFrac: undefined,
        hot: false,
        placedSinceScrape: 0,
        unscheduled: 0,
      });
  }

  /** What a scrape of a backend's /metrics said (undefined fields: not on the page). */
  updateBackend(
    id: string,
    s: { healthy: boolean; capacityTokens?: number | undefined; kvUsageFrac?: number | undefined },
  ): void {
    const b = this.backend(id);
    b.healthy = s.healthy;
    if (!s.healthy) return;
    if (s.capacityTokens !== undefined) b.capacityTokens = s.capacityTokens;
    b.kvUsageFrac = s.kvUsageFrac;
    b.placedSinceScrape = 0;
    if (s.kvUsageFrac !== undefined) {
      if (s.kvUsageFrac >= this.pauseAt) b.hot = true;
      else if (s.kvUsageFrac < this.resumeBelow) b.hot = false;
    }
  }

  /**
   * A call arrives. `grant` runs (now, or when its program is resumed) with the backend to send
   * it to; the returned id goes to endCall when it ends (or is given up while waiting).
   */
  beginCall(programId: string | undefined, bodyChars: number, grant: (g: Grant) => void): number {
    const call: Call = {
      id: this.nextCallId++,
      programId,
      arrivedMs: this.clock.nowMs(),
      bodyChars,
      grant,
      granted: false,
    };
    this.calls.set(call.id, call);
    if (programId === undefined) {
      this.unscheduledCalls++;
      const b = this.leastLoaded();
      b.unscheduled++;
      call.granted = true;
      grant({ callId: call.id, backend: b.id, queueMs: 0 });
      return call.id;
    }
    let p = this.programs.get(programId);
    if (!p) {
      p = newProgram(programId);
      this.programs.set(programId, p);
    }
    p.steps++;
    p.tokens = Math.ceil(bodyChars / this.charsPerToken);
    p.tokensFrom = 'estimate';
    if (p.paused) {
      p.waiting.push(call);
      return call.id;
    }
    if (p.backend === undefined) {
      const b = this.admitNew(p);
      if (!b) {
        // queued like a pause (ThunderAgent's one waiting pool), not counted as one
        this.pause(p, false);
        p.waiting.push(call);
        return call.id;
      }
      this.place(p, b);
    }
    this.grantCall(p, call, p.backend!, false);
    return call.id;
  }

  /** The call ended (usage from the backend when it sent one) or was given up while waiting. */
  endCall(callId: number, usage?: CallUsage): void {
    const call = this.calls.get(callId);
    if (!call) return;
    this.calls.delete(callId);
    if (call.programId === undefined) {
      // unscheduled calls hold nothing
      return;
    }
    const p = this.programs.get(call.programId);
    if (!p) return;
    if (!call.granted) {
      p.waiting = p.waiting.filter((c) => c !== call);
      return;
    }
    p.inFlight--;
    if (usage && usage.promptTokens > 0) {
      p.tokens = usage.promptTokens + usage.completionTokens;
      p.tokensFrom = 'usage';
      const ratio = call.bodyChars / usage.promptTokens;
      this.charsPerToken = this.ratioFitted ? 0.2 * ratio + 0.8 * this.charsPerToken : ratio;
      this.ratioFitted = true;
    }
    if (p.inFlight === 0 && p.marked) {
      p.marked = false;
      this.pause(p);
    }
  }

  /** POST /programs/release: the program is done. Calls still waiting go to where it was. */
  release(programId: string): boolean {
    const p = this.programs.get(programId);
    if (!p) return false;
    this.programs.delete(programId);
    const to = p.backend ?? p.origin ?? this.leastLoaded().id;
    for (const c of p.waiting) {
      c.granted = true;
      c.programId = undefined;
      c.grant({ callId: c.id, backend: to, queueMs: this.clock.nowMs() - c.arrivedMs });
    }
    return true;
  }

  /** One scheduling round: resume what fits, then pause where a backend overflows. */
  tick(): void {
    this.resumeRound();
    for (const b of this.backends.values()) {
      if (!b.healthy || b.capacityTokens === undefined) continue;
      if (this.mode === 'tr') this.pauseUntilSafeTr(b);
      else this.pauseHotBackend(b);
    }
  }

  programView(id: string): ProgramView | undefined {
    const p = this.programs.get(id);
    return p ? this.view(p) : undefined;
  }

  listPrograms(): ProgramView[] {
    return [...this.programs.values()].map((p) => this.view(p));
  }

  stats(): RouterStats {
    const ps = [...this.programs.values()];
    return {
      mode: this.mode,
      programs: ps.length,
      reasoning: ps.filter((p) => status(p) === 'reasoning').length,
      acting: ps.filter((p) => status(p) === 'acting').length,
      paused: ps.filter((p) => p.paused).length,
      markedForPause: ps.filter((p) => p.marked).length,
      unscheduledCalls: this.unscheduledCalls,
      pausesTotal: this.pausesTotal,
      resumesTotal: this.resumesTotal,
      backends: [...this.backends.values()].map((b) => ({
        id: b.id,
        healthy: b.healthy,
        capacityTokens: b.capacityTokens ?? null,
        kvUsageFrac: b.kvUsageFrac ?? null,
        hot: b.hot,
        programs: ps.filter((p) => p.backend === b.id).length,
        neededTokens: this.needed(b),
      })),
    };
  }

  // ---- internals ----

  private backend(id: string): Backend {
    const b = this.backends.get(id);
    if (!b) throw new Error(`unknown backend ${id}`);
    return b;
  }

  private view(p: Program): ProgramView {
    const now = this.clock.nowMs();
    return {
      programId: p.id,
      status: status(p),
      state: p.paused ? 'paused' : 'active',
      backend: p.backend ?? null,
      markedForPause: p.marked,
      tokens: p.tokens,
      tokensFrom: p.tokensFrom,
      steps: p.steps,
      callsInFlight: p.inFlight,
      callsWaiting: p.waiting.length,
      queueMsTotal: p.queueMsTotal,
      queuedCalls: p.queuedCalls,
      pauses: p.pauses,
      resumes: p.resumes,
      migrations: p.migrations,
      pausedMsTotal: p.pausedMsTotal + (p.pausedSinceMs !== undefined ? now - p.pausedSinceMs : 0),
    };
  }

  private placedOn(b: Backend): Program[] {
    return [...this.programs.values()].filter((p) => p.backend === b.id);
  }

  /** tokens the placed, unmarked programs need on b */
  private needed(b: Backend): number {
    let n = 0;
    for (const p of this.programs.values()) if (p.backend === b.id && !p.marked) n += p.tokens + this.reserve;
    return n;
  }

  /** room for more programs: tr from capacity, kv-threshold from the usage below resumeBelow */
  private room(b: Backend): number | undefined {
    if (!b.healthy || b.capacityTokens === undefined) return undefined;
    if (this.mode === 'tr') return b.capacityTokens - this.needed(b);
    if (b.kvUsageFrac === undefined) return undefined;
    if (b.hot || b.kvUsageFrac >= this.resumeBelow) return 0;
    return (this.resumeBelow - b.kvUsageFrac) * b.capacityTokens - b.placedSinceScrape;
  }

  private leastLoaded(): Backend {
    let best: Backend | undefined;
    let bestN = Number.POSITIVE_INFINITY;
    for (const b of this.backends.values()) {
      if (!b.healthy) continue;
      const n = this.placedOn(b).length + b.unscheduled;
      if (n < bestN) {
        best = b;
        bestN = n;
      }
    }
    return best ?? this.backends.values().next().value!;
  }

  /** a backend for a new program, or undefined: it waits paused */
  private admitNew(p: Program): Backend | undefined {
    const known = [...this.backends.values()].filter((b) => this.room(b) !== undefined);
    // nothing to schedule by (no capacity / usage read yet): a plain least-loaded proxy
    if (known.length === 0) return this.leastLoaded();
    if ([...this.programs.values()].some((q) => q.paused)) return undefined;
    const need = p.tokens + this.reserve;
    let best: Backend | undefined;
    let bestKey = Number.POSITIVE_INFINITY;
    for (const b of known) {
      if (this.room(b)! < need) continue;
      const key =
        this.mode === 'tr' ? this.needed(b) : b.kvUsageFrac! + b.placedSinceScrape / b.capacityTokens!;
      if (key < bestKey) {
        best = b;
        bestKey = key;
      }
    }
    return best;
  }

  private place(p: Program, b: Backend): void {
    p.backend = b.id;
    b.placedSinceScrape += p.tokens + this.reserve;
  }

  /** waited: false for a call sent on arrival (its queue time is 0, not the µs a real clock moved) */
  private grantCall(p: Program, call: Call, backend: string, waited = true): void {
    call.granted = true;
    p.inFlight++;
    const queueMs = waited ? this.clock.nowMs() - call.arrivedMs : 0;
    p.queueMsTotal += queueMs;
    if (queueMs > 0) p.queuedCalls++;
    call.grant({ callId: call.id, backend, queueMs });
  }

  private pause(p: Program, counted = true): void {
    p.paused = true;
    p.origin = p.backend;
    p.backend = undefined;
    p.pausedSinceMs = this.clock.nowMs();
    if (counted) {
      p.pauses++;
      this.pausesTotal++;
    }
  }

  private resume(p: Program, b: Backend): void {
    p.paused = false;
    if (p.origin !== undefined && p.origin !== b.id) p.migrations++;
    p.origin = undefined;
    this.place(p, b);
    if (p.pauses > 0) {
      p.resumes++;
      this.resumesTotal++;
    }
    if (p.pausedSinceMs !== undefined) p.pausedMsTotal += this.clock.nowMs() - p.pausedSinceMs;
    p.pausedSinceMs = undefined;
    const waiting = p.waiting;
    p.waiting = [];
    for (const c of waiting) this.grantCall(p, c, b.id);
  }

  /** ACTING on b smallest first, then REASONING (unmarked) smallest first */
  private pauseOrder(b: Backend): { acting: Program[]; reasoning: Program[] } {
    const on = this.placedOn(b);
    const bySize = (x: Program, y: Program) => x.tokens - y.tokens;
    return {
      acting: on.filter((p) => p.inFlight === 0 && !p.marked).sort(bySize),
      reasoning: on.filter((p) => p.inFlight > 0 && !p.marked).sort(bySize),
    };
  }

  private pauseUntilSafeTr(b: Backend): void {
    if (this.room(b)! >= 0) return;
    const { acting, reasoning } = this.pauseOrder(b);
    for (const p of acting) {
      if (this.room(b)! >= 0) return;
      this.pause(p);
    }
    for (const p of reasoning) {
      if (this.room(b)! >= 0) return;
      p.marked = true;
    }
  }

  private pauseHotBackend(b: Backend): void {
    if (b.kvUsageFrac === undefined || b.kvUsageFrac < this.pauseAt) return;
    const target = (b.kvUsageFrac - this.resumeBelow) * b.capacityTokens!;
    let freed = 0;
    for (const p of this.placedOn(b)) if (p.marked) freed += p.tokens;
    const { acting, reasoning } = this.pauseOrder(b);
    for (const p of acting) {
      if (freed >= target) return;
      freed += p.tokens;
      this.pause(p);
    }
    for (const p of reasoning) {
      if (freed >= target) return;
      freed += p.tokens;
      p.marked = true;
    }
  }

  private resumeRound(): void {
    const paused = [...this.programs.values()].filter((p) => p.paused);
    if (paused.length === 0) return;
    const bySize = (x: Program, y: Program) => x.tokens - y.tokens;
    const candidates = [
      ...paused.filter((p) => p.waiting.length > 0 && p.steps > 1).sort(bySize),
      ...paused.filter((p) => p.waiting.length > 0 && p.steps <= 1).sort(bySize),
      ...paused.filter((p) => p.waiting.length === 0).sort(bySize),
    ];
    const bins: { id: string; roomTokens: number }[] = [];
    for (const b of this.backends.values()) {
      const r = this.room(b);
      if (r !== undefined && r > 0) bins.push({ id: b.id, roomTokens: r });
    }
    const total = bins.reduce((s, x) => s + x.roomTokens, 0);
    const chosen: Program[] = [];
    let sum = 0;
    for (const p of candidates) {
      const need = p.tokens + this.reserve;
      if (sum + need <= total) {
        chosen.push(p);
        sum += need;
      }
    }
    const where = placeDecreasing(
      chosen.map((p) => ({ id: p.id, needTokens: p.tokens + this.reserve, origin: p.origin })),
      bins,
      this.placement,
    );
    // resume in priority order so waiting calls are granted reasoning-first
    for (const p of chosen) {
      const to = where.get(p.id);
      if (to !== undefined) this.resume(p, this.backend(to));
    }
    // a backend with nothing placed takes the first candidate still paused, fit or not
    for (const b of this.backends.values()) {
      if (this.room(b) === undefined || this.placedOn(b).length > 0) continue;
      if (this.mode === 'kv-threshold' && b.hot) continue;
      const first = candidates.find((p) => p.paused);
      if (first) this.resume(first, b);
    }
  }
}

function newProgram(id: string): Program {
  return {
    id,
    backend: undefined,
    origin: undefined,
    paused: false,
    marked: false,
    inFlight: 0,
    waiting: [],
    tokens: 0,
    tokensFrom: 'estimate',
    steps: 0,
    queueMsTotal: 0,
    queuedCalls: 0,
    pauses: 0,
    resumes: 0,
    migrations: 0,
    pausedSinceMs: undefined,
    pausedMsTotal: 0,
  };
}

function status(p: Program): ProgramStatus {
  return p.inFlight > 0 || p.waiting.length > 0 ? 'reasoning' : 'acting';
}

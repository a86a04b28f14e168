import type { TaskRecord } from '../agent/records.js';
import type { ActiveWindow } from './kv-window.js';
import { roleTransitionsIn } from './role-transitions.js';
import type { StepTable } from './step-table.js';
import {
  roleTransitionRate,
  type ThroughputCounts,
  type ThroughputRates,
  throughputRates,
} from './throughput.js';

export type WindowKind = 'active' | 'client' | 'fixed' | 'makespan';

export const WINDOW_DEFINITIONS: Record<WindowKind, string> = {
  active:
    "KV active window (the users' definition): from the first KV-usage sample above the threshold to the last sample above it, on the chosen port. Depends on the server's KV accounting: TTL pinning inflates it, program pausing caps it.",
  client:
    'Client-side saturation window: from the first moment C programs are in flight at once to the last task dispatch. Independent of the server.',
  fixed:
    "Fixed offsets from the first task dispatch (e.g. --window 600s..7800s), clipped to the run's last activity.",
  makespan: 'Whole makespan: first task dispatch to the last task end.',
};

export const COUNTING_RULE =
  'A task counts in a window if it ENDS inside it (both ends inclusive); a step counts if its orchestrator LLM call ENDS inside it. Steps are orchestrator LLM calls only; expert and user LLM calls are counted separately, never as steps, and driver turn changes are not counted as steps (tau2 role transitions are counted apart, as roleTransitions). Throughput is "ok" (tasks and calls with status ok: the headline figure) and, beside it, "all ended" (every task or call that ended, whatever its status).';

export interface WindowBounds {
  kind: WindowKind;
  label: string;
  /** 'ok' has a duration; anything else has no rate */
  status: 'ok' | 'zero-length' | 'none';
  startMs: number | null;
  endMs: number | null;
  /** why there is no window, or what was adjusted */
  note?: string;
}

export interface WindowCounts extends WindowBounds, ThroughputCounts, ThroughputRates {
  durationS: number | null;
  expertCalls: number;
  userCalls: number;
  /** tau2 role transitions that ended inside the window (role-transitions.ts); not steps */
  roleTransitions: number;
  /** THROUGHPUT_DEFINITIONS.roleTransitionsPerS */
  roleTransitionsPerS: number | null;
}

export interface RunSpan {
  firstDispatchMs: number | null;
  lastDispatchMs: number | null;
  lastEndMs: number | null;
  /** programs seen in steps.jsonl that have no task record (still running when the run stopped) */
  unfinishedPrograms: { programId: string; firstSentMs: number; lastEndMs: number }[];
}

export function runSpan(tasks: readonly TaskRecord[], steps: StepTable): RunSpan {
  let firstDispatch = Number.POSITIVE_INFINITY;
  let lastDispatch = Number.NEGATIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  const finished = new Set<string>();
  for (const t of tasks) {
    finished.add(t.programId);
    if (t.startMs < firstDispatch) firstDispatch = t.startMs;
    if (t.startMs > lastDispatch) lastDispatch = t.startMs;
    if (t.endMs > lastEnd) lastEnd = t.endMs;
  }
  const first = new Float64Array(steps.programIds.length).fill(Number.POSITIVE_INFINITY);
  const last = new Float64Array(steps.programIds.length).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < steps.n; i++) {
    const p = steps.program[i]!;
    if (steps.sentMs[i]! < first[p]!) first[p] = steps.sentMs[i]!;
    if (steps.endMs[i]! > last[p]!) last[p] = steps.endMs[i]!;
  }
  const unfinished: RunSpan['unfinishedPrograms'] = [];
  steps.programIds.forEach((id, p) => {
    if (finished.has(id)) return;
    unfinished.push({ programId: id, firstSentMs: first[p]!, lastEndMs: last[p]! });
    if (first[p]! < firstDispatch) firstDispatch = first[p]!;
    if (first[p]! > lastDispatch) lastDispatch = first[p]!;
    if (last[p]! > lastEnd) lastEnd = last[p]!;
  });
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    firstDispatchMs: fin(firstDispatch),
    lastDispatchMs: fin(lastDispatch),
    lastEndMs: fin(lastEnd),
    unfinishedPrograms: unfinished,
  };
}

export function activeBounds(a: ActiveWindow): WindowBounds {
  const label = `KV > ${a.threshold} on port ${a.port ?? '?'}`;
  if (a.status === 'ok') return { kind: 'active', label, status: 'ok', startMs: a.startMs, endMs: a.endMs };
  if (a.status === 'zero-length')
    return {
      kind: 'active',
      label,
      status: 'zero-length',
      startMs: a.startMs,
      endMs: a.endMs,
      note: 'a single KV sample above the threshold: zero-length window, no rate',
    };
  return {
    kind: 'active',
    label,
    status: 'none',
    startMs: null,
    endMs: null,
    note:
      a.status === 'no-samples'
        ? `no KV-usage samples on port ${a.port ?? '(none)'}: no active window`
        : `KV usage never went above ${a.threshold} (peak ${a.peakValue === null ? '-' : a.peakValue.toFixed(3)}): no active window`,
  };
}

/** From the first moment `concurrency` programs are in flight to the last dispatch. */
export function clientBounds(
  tasks: readonly TaskRecord[],
  span: RunSpan,
  concurrency: number | null,
): WindowBounds {
  const label = `C=${concurrency ?? '?'} in flight -> last dispatch`;
  if (!concurrency || concurrency < 1)
    return { kind: 'client', label, status: 'none', startMs: null, endMs: null, note: 'concurrency unknown' };
  const events: [number, number][] = [];
  for (const t of tasks) {
    events.push([t.startMs, 1], [t.endMs, -1]);
  }
  for (const u of span.unfinishedPrograms) events.push([u.firstSentMs, 1]);
  // at equal times, ends before starts: a slot handed over is not C+1 in flight
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let inFlight = 0;
  let start: number | null = null;
  for (const [ts, d] of events) {
    inFlight += d;
    if (inFlight >= concurrency) {
      start = ts;
      break;
    }
  }
  if (start === null)
    return {
      kind: 'client',
      label,
      status: 'none',
      startMs: null,
      endMs: null,
      note: `never ${concurrency} programs in flight at once: the client never saturated its slots`,
    };
  const end = span.lastDispatchMs!;
  if (end <= start)
    return {
      kind: 'client',
      label,
      status: 'zero-length',
      startMs: start,
      endMs: start,
      note: 'the last dispatch came at the moment the slots filled: zero-length window, no rate',
    };
  return { kind: 'client', label, status: 'ok', startMs: start, endMs: end };
}

export interface FixedWindowSpec {
  fromS: number;
  toS: number;
}

/** Parses `600s..7800s`, `10m..70m`, `600..7800` (seconds), `500ms..9000ms`. */
export function parseWindowSpec(text: string): FixedWindowSpec | null {
  const m = /^\s*([\d.]+)\s*(ms|s|m|h)?\s*\.\.\s*([\d.]+)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return null;
  const unit = (u: string | undefined) => (u === 'ms' ? 0.001 : u === 'm' ? 60 : u === 'h' ? 3600 : 1);
  const fromS = Number(m[1]) * unit(m[2] ?? m[4]);
  const toS = Number(m[3]) * unit(m[4] ?? m[2]);
  if (!Number.isFinite(fromS) || !Number.isFinite(toS) || toS <= fromS) return null;
  return { fromS, toS };
}

export function fixedBounds(spec: FixedWindowSpec, span: RunSpan): WindowBounds {
  const label = `+${spec.fromS}s..+${spec.toS}s`;
  if (span.firstDispatchMs === null || span.lastEndMs === null)
    return {
      kind: 'fixed',
      label,
      status: 'none',
      startMs: null,
      endMs: null,
      note: 'no task was dispatched',
    };
  const start = span.firstDispatchMs + spec.fromS * 1000;
  let end = span.firstDispatchMs + spec.toS * 1000;
  let note: string | undefined;
  if (start >= span.lastEndMs)
    return {
      kind: 'fixed',
      label,
      status: 'none',
      startMs: null,
      endMs: null,
      note: `the run ended ${((span.lastEndMs - span.firstDispatchMs) / 1000).toFixed(1)} s after the first dispatch, before the window starts`,
    };
  if (end > span.lastEndMs) {
    end = span.lastEndMs;
    note = `clipped: the run ended at +${((end - span.firstDispatchMs) / 1000).toFixed(1)} s`;
  }
  return { kind: 'fixed', label, status: 'ok', startMs: start, endMs: end, ...(note ? { note } : {}) };
}

export function makespanBounds(span: RunSpan): WindowBounds {
  const label = 'first dispatch -> last end';
  if (span.firstDispatchMs === null || span.lastEndMs === null)
    return {
      kind: 'makespan',
      label,
      status: 'none',
      startMs: null,
      endMs: null,
      note: 'no task was dispatched',
    };
  const status = span.lastEndMs > span.firstDispatchMs ? 'ok' : 'zero-length';
  return { kind: 'makespan', label, status, startMs: span.firstDispatchMs, endMs: span.lastEndMs };
}

/** Counts tasks and calls inside a window with COUNTING_RULE; rates by THROUGHPUT_DEFINITIONS. */
export function countInWindow(b: WindowBounds, tasks: readonly TaskRecord[], steps: StepTable): WindowCounts {
  const c: ThroughputCounts = {
    tasksEnded: 0,
    tasksOk: 0,
    tasksFailed: 0,
    tasksIncomplete: 0,
    stepsEnded: 0,
    stepsOk: 0,
  };
  let expertCalls = 0;
  let userCalls = 0;
  if (b.startMs !== null && b.endMs !== null) {
    const lo = b.startMs;
    const hi = b.endMs;
    for (const t of tasks) {
      if (t.endMs < lo || t.endMs > hi) continue;
      c.tasksEnded++;
      if (t.status === 'ok') c.tasksOk++;
      else if (t.status === 'failed') c.tasksFailed++;
      else c.tasksIncomplete++;
    }
    const { kind, endMs, status } = steps;
    for (let i = 0; i < steps.n; i++) {
      const e = endMs[i]!;
      if (e < lo || e > hi) continue;
      const k = kind[i]!;
      if (k === 0) {
        c.stepsEnded++;
        if (status[i] === 0) c.stepsOk++;
      } else if (k === 1) expertCalls++;
      else userCalls++;
    }
  }
  const durationS = b.startMs !== null && b.endMs !== null ? (b.endMs - b.startMs) / 1000 : null;
  const roleTransitions =
    b.startMs !== null && b.endMs !== null ? roleTransitionsIn(steps, b.startMs, b.endMs) : 0;
  return {
    ...b,
    durationS,
    ...c,
    ...throughputRates(c, b.status === 'ok' ? durationS : null),
    expertCalls,
    userCalls,
    roleTransitions,
    roleTransitionsPerS: roleTransitionRate(roleTransitions, b.status === 'ok' ? durationS : null),
  };
}

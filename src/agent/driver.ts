/**
 * Global scheduling of agent programs: C slots (or per-domain slot pools), a finished task
 * frees its slot for the next, the order fixed up front. Ctrl-C stops dispatch, lets calls in
 * flight finish for a grace period, then aborts them. A watchdog names tasks that make no
 * progress, and ends a call that has received no byte for the stall limit (the task fails
 * with error:stalled; a hung server would otherwise hold it until maxTaskTimeS).
 */

import { runLiveTask } from './live.js';
import type { TaskRecord } from './records.js';
import { runReplayTask } from './replay.js';
import { clockOf, type ProgramContext, type TaskSignals } from './runtime.js';
import type { AgentTask } from './taskset.js';
import type { TaskPlan } from './trace.js';

export type WorkItem = { kind: 'live'; task: AgentTask } | { kind: 'replay'; plan: TaskPlan };

export function itemDomain(w: WorkItem): string {
  return w.kind === 'live' ? w.task.domain : w.plan.domain;
}
export function itemId(w: WorkItem): string {
  return w.kind === 'live' ? w.task.id : w.plan.taskId;
}

export interface DriveOptions {
  items: readonly WorkItem[];
  concurrency: number;
  /** domain -> share of C; unlisted domains share what is left */
  domainSlots?: Record<string, number>;
  ctx: ProgramContext;
  /** Ctrl-C */
  signal?: AbortSignal;
  graceMs: number;
  /** a task with no progress for this long gets a note */
  watchdogMs: number;
  /** a call with no byte for this long is ended (error kind 'stalled'); default ctx.limits.stallTimeoutMs */
  stallMs?: number;
  onTask: (r: TaskRecord) => void;
}

export interface DriveResult {
  dispatched: number;
  completed: number;
  interrupted: boolean;
  stalled: string[];
}

/** Splits C slots over domain groups; every group with work gets at least one slot. */
export function slotGroups(
  items: readonly WorkItem[],
  c: number,
  shares?: Record<string, number>,
): { slots: number; queue: WorkItem[] }[] {
  if (!shares || Object.keys(shares).length === 0) return [{ slots: c, queue: [...items] }];
  const total = Object.values(shares).reduce((a, b) => a + b, 0);
  const groups: { slots: number; queue: WorkItem[] }[] = [];
  let used = 0;
  for (const [domain, share] of Object.entries(shares)) {
    const queue = items.filter((w) => itemDomain(w) === domain);
    if (queue.length === 0) continue;
    const slots = Math.max(1, Math.floor((c * share) / total));
    used += slots;
    groups.push({ slots, queue });
  }
  const rest = items.filter((w) => !(itemDomain(w) in shares));
  if (rest.length > 0) groups.push({ slots: Math.max(1, c - used), queue: rest });
  return groups;
}

export async function driveCell(opts: DriveOptions): Promise<DriveResult> {
  const { ctx } = opts;
  const clock = clockOf(ctx);
  const stopCtl = new AbortController();
  const abortCtl = new AbortController();
  let cancelGrace: (() => void) | undefined;
  const onInterrupt = () => {
    if (stopCtl.signal.aborted) return;
    stopCtl.abort();
    cancelGrace = clock.after(opts.graceMs, () => abortCtl.abort());
  };
  if (opts.signal?.aborted) onInterrupt();
  opts.signal?.addEventListener('abort', onInterrupt, { once: true });
  const signals: TaskSignals = { stop: stopCtl.signal, abort: abortCtl.signal };

  interface InFlight {
    lastMs: number;
    end: () => void;
  }
  const active = new Map<string, { lastMs: number; what: string; warned: boolean; call?: InFlight }>();
  const stalled = new Set<string>();
  const stallMs = opts.stallMs ?? ctx.limits.stallTimeoutMs;
  const progressCtx: ProgramContext = {
    ...ctx,
    onProgress: (taskId, what) => {
      const a = active.get(taskId);
      if (a) {
        a.lastMs = ctx.now();
        a.what = what;
        a.warned = false;
      }
      ctx.onProgress(taskId, what);
    },
    ...(stallMs && stallMs > 0
      ? {
          watchCall: (taskId: string, end: () => void) => {
            const a = active.get(taskId);
            const call: InFlight = { lastMs: ctx.now(), end };
            if (a) a.call = call;
            return {
              touch: () => {
                call.lastMs = ctx.now();
                if (a) a.lastMs = call.lastMs;
              },
              done: () => {
                if (a?.call === call) delete a.call;
              },
            };
          },
        }
      : {}),
  };
  const stopWatchdog = clock.every(
    Math.max(50, Math.min(5000, Math.min(opts.watchdogMs, stallMs && stallMs > 0 ? stallMs : Infinity) / 2)),
    () => {
      const now = ctx.now();
      for (const [taskId, a] of active) {
        if (stallMs && a.call && now - a.call.lastMs > stallMs) {
          const { end, lastMs } = a.call;
          delete a.call;
          stalled.add(taskId);
          ctx.onNote(
            `watchdog: ended a call of task ${taskId}: no byte for ${Math.round((now - lastMs) / 1000)} s (limits.stallTimeoutS ${stallMs / 1000})`,
          );
          end();
        }
        if (!a.warned && now - a.lastMs > opts.watchdogMs) {
          a.warned = true;
          stalled.add(taskId);
          ctx.onNote(
            `watchdog: task ${taskId} made no progress for ${Math.round((now - a.lastMs) / 1000)} s (last: ${a.what})`,
          );
        }
      }
    },
  );

  let dispatched = 0;
  let completed = 0;
  let slotBase = 0;
  const workers: Promise<void>[] = [];
  for (const group of slotGroups(opts.items, opts.concurrency, opts.domainSlots)) {
    for (let s = 0; s < group.slots; s++) {
      const slot = slotBase + s;
      workers.push(
        (async () => {
          for (;;) {
            if (stopCtl.signal.aborted) return;
            const item = group.queue.shift();
            if (!item) return;
            dispatched++;
            const taskId = itemId(item);
            const programId = `${ctx.cellTag}/${taskId}`;
            active.set(taskId, { lastMs: ctx.now(), what: 'dispatched', warned: false });
            let rec: TaskRecord;
            try {
              rec =
                item.kind === 'live'
                  ? await runLiveTask(progressCtx, { task: item.task, slot, programId }, signals)
                  : await runReplayTask(progressCtx, item.plan, { slot, programId }, signals);
            } catch (err) {
              ctx.onNote(`task ${taskId} crashed: ${(err as Error).message}`);
              rec = {
                v: 1,
                taskId,
                programId,
                domain: itemDomain(item),
                status: 'failed',
                reason: 'error:internal',
                steps: 0,
                expertCalls: 0,
                userCalls: 0,
                toolCalls: 0,
                startMs: ctx.now(),
                endMs: ctx.now(),
                slot,
              };
            }
            active.delete(taskId);
            completed++;
            opts.onTask(rec);
          }
        })(),
      );
    }
    slotBase += group.slots;
  }
  try {
    await Promise.all(workers);
  } finally {
    stopWatchdog();
    cancelGrace?.();
    opts.signal?.removeEventListener('abort', onInterrupt);
  }
  return { dispatched, completed, interrupted: stopCtl.signal.aborted, stalled: [...stalled] };
}

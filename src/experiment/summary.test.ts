import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../agent/records.js';
import { summarizeCell } from '../analysis/cell-summary.js';
import { cellInput, step, T0 } from '../analysis/testing/fixtures.js';
import { progressLine } from './progress.js';
import { CellTally } from './summary.js';

function task(status: TaskRecord['status'], startMs: number, endMs: number, reason?: string): TaskRecord {
  return {
    v: 1,
    taskId: `t${startMs}`,
    programId: `p${startMs}`,
    domain: 'retail',
    status,
    steps: 3,
    expertCalls: 0,
    userCalls: 0,
    toolCalls: 2,
    startMs,
    endMs,
    slot: 0,
    ...(reason ? { reason } : {}),
  } as TaskRecord;
}

describe('end-of-run table and progress line', () => {
  const tally = new CellTally();
  tally.addTask(task('ok', 0, 30_000));
  tally.addTask(task('ok', 0, 60_000));
  tally.addTask(task('failed', 0, 10_000, 'context_length'));
  tally.addTask(task('incomplete', 0, 60_000, 'interrupted'));
  tally.addTask(task('incomplete', 0, 60_000, 'interrupted'));

  it('counts interrupted tasks as incomplete, never as failed', () => {
    const c = tally.summary('a/c4/r1', 'interrupted');
    expect(c.tasks).toMatchObject({ total: 5, ok: 2, failed: 1, incomplete: 2 });
    expect(c.tasks.byReason).toEqual({ context_length: 1, interrupted: 2 });
    // 2 ok tasks over a 1-minute makespan
    expect(c.tasksPerMin).toBeCloseTo(2, 9);
  });

  it("the driver's rates are the analysis's makespan figures on the same records", () => {
    const t = new CellTally();
    const tasks = [
      task('ok', 0, 30_000),
      task('ok', 1000, 45_000),
      task('failed', 2000, 20_000, 'error:server_error'),
      task('incomplete', 3000, 50_000, 'interrupted'),
    ];
    // a program still running has steps but no task record: it stretches the makespan to 80 s
    const steps = [
      step('t0', 1, 10),
      step('t1000', 2, 40),
      step('t2000', 3, 19, { status: 'error', errorKind: 'server_error' }),
      step('t3000', 4, 30),
      step('late', 5, 80),
    ].map((s) => ({ ...s, programId: `p${s.taskId.slice(1)}`, sentMs: s.sentMs - T0, endMs: s.endMs - T0 }));
    for (const s of steps) t.addStep(s);
    for (const x of tasks) t.addTask(x);
    const c = t.summary('a/c4/r1', 'interrupted');
    const m = summarizeCell(cellInput('a/c4/r1', { tasks, steps })).windows.find(
      (w) => w.kind === 'makespan',
    )!;
    expect(c.makespanS).toBe(m.durationS);
    expect(c.makespanS).toBe(80);
    expect(c.tasksPerMin).toBeCloseTo(m.okTasksPerMin!, 12);
    expect(c.tasksPerMin).toBeCloseTo(2 / (80 / 60), 12);
    expect(c.stepsPerSec).toBeCloseTo(m.okStepsPerS!, 12);
    expect(c.stepsPerSec).toBeCloseTo(4 / 80, 12);
  });

  it('progress: failed and incomplete apart, tasks/min from ok tasks only', () => {
    const line = progressLine('a/c4/r1', tally, 100, 60, new Map([[1900, 0.5]]));
    expect(line).toBe(
      '[a/c4/r1] tasks 5/100 (failed 1, incomplete 2) | 0.00 steps/s 2.00 tasks/min | errors 0 retries 0 | KV 1900:50% | 60 s',
    );
  });
});

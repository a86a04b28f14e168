import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../agent/records.js';
import { progressLine } from './progress.js';
import { CellTally, formatTable } from './summary.js';

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
    const table = formatTable([{ arm: 'a', concurrency: 4, cells: [c] }]).split('\n');
    expect(table[0]).toMatch(/tasks ok\/total\s+failed\s+incomplete\s+tasks\/min/);
    expect(table[1]).toMatch(/^a\s+4\s+1\s+2\/5\s+1\s+2\s+2\.00\s/);
  });

  it('progress: failed and incomplete apart, tasks/min from ok tasks only', () => {
    const line = progressLine('a/c4/r1', tally, 100, 60, new Map([[1900, 0.5]]));
    expect(line).toBe(
      '[a/c4/r1] tasks 5/100 (failed 1, incomplete 2) | 0.00 steps/s 2.00 tasks/min | errors 0 retries 0 | KV 1900:50% | 60 s',
    );
  });
});

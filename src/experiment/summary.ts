/**
 * The minimal per-cell summary of the driver (counts and whole-run rates). The analysis module
 * adds windows; this is what the run itself knows when a cell ends.
 */
import type { StepRecord, TaskRecord } from '../agent/records.js';

export interface CellCounts {
  v: 1;
  cell: string;
  status: string;
  tasks: { total: number; ok: number; failed: number; incomplete: number; byReason: Record<string, number> };
  calls: { orchestrator: number; expert: number; user: number; errors: number; retries: number };
  /** first task start to last task end, seconds */
  makespanS: number;
  /** ok tasks per minute over the makespan */
  tasksPerMin: number;
  /** ok orchestrator calls per second over the makespan */
  stepsPerSec: number;
  definitions: Record<string, string>;
}

export class CellTally {
  readonly tasks: TaskRecord[] = [];
  orchestrator = 0;
  orchestratorOk = 0;
  expert = 0;
  user = 0;
  errors = 0;
  retries = 0;

  addStep(r: StepRecord): void {
    // an orchestrator record is written once, when its next action is known (or it failed)
    if (r.kind === 'orchestrator') {
      this.orchestrator++;
      if (r.status === 'ok') this.orchestratorOk++;
    } else if (r.kind === 'expert') this.expert++;
    else this.user++;
    if (r.status !== 'ok') this.errors++;
    this.retries += r.retries;
  }

  /** tasks by status so far (the progress line reads these every tick) */
  readonly taskStatus = { ok: 0, failed: 0, incomplete: 0 };

  addTask(t: TaskRecord): void {
    this.tasks.push(t);
    if (t.status === 'ok') this.taskStatus.ok++;
    else if (t.status === 'failed') this.taskStatus.failed++;
    else this.taskStatus.incomplete++;
  }

  summary(cell: string, status: string): CellCounts {
    const byReason: Record<string, number> = {};
    const { ok, failed, incomplete } = this.taskStatus;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const t of this.tasks) {
      if (t.reason) byReason[t.reason] = (byReason[t.reason] ?? 0) + 1;
      first = Math.min(first, t.startMs);
      last = Math.max(last, t.endMs);
    }
    const makespanS = this.tasks.length > 0 ? (last - first) / 1000 : 0;
    return {
      v: 1,
      cell,
      status,
      tasks: { total: this.tasks.length, ok, failed, incomplete, byReason },
      calls: {
        orchestrator: this.orchestrator,
        expert: this.expert,
        user: this.user,
        errors: this.errors,
        retries: this.retries,
      },
      makespanS,
      tasksPerMin: makespanS > 0 ? ok / (makespanS / 60) : 0,
      stepsPerSec: makespanS > 0 ? this.orchestratorOk / makespanS : 0,
      definitions: {
        step: 'one orchestrator LLM call (expert and user calls are counted separately)',
        makespanS: 'first task start to last task end (whole run, no window)',
        tasksPerMin:
          'tasks with status ok / makespan in minutes; failed and incomplete tasks are not counted',
        stepsPerSec: 'orchestrator calls with status ok / makespan in seconds',
      },
    };
  }
}

export function formatTable(
  rows: readonly { arm: string; concurrency: number; cells: CellCounts[] }[],
): string {
  const header = [
    'arm',
    'C',
    'reps',
    'tasks ok/total',
    'failed',
    'incomplete',
    'tasks/min',
    'steps/s',
    'makespan s',
  ];
  const lines: string[][] = [header];
  for (const r of rows) {
    const n = r.cells.length;
    const mean = (f: (c: CellCounts) => number) => (n ? r.cells.reduce((a, c) => a + f(c), 0) / n : 0);
    const ok = r.cells.reduce((a, c) => a + c.tasks.ok, 0);
    const total = r.cells.reduce((a, c) => a + c.tasks.total, 0);
    const failed = r.cells.reduce((a, c) => a + c.tasks.failed, 0);
    // interrupted (Ctrl-C) or cut by the end of the cell: not failures of the server
    const incomplete = r.cells.reduce((a, c) => a + c.tasks.incomplete, 0);
    lines.push([
      r.arm,
      String(r.concurrency),
      String(n),
      `${ok}/${total}`,
      String(failed),
      String(incomplete),
      mean((c) => c.tasksPerMin).toFixed(2),
      mean((c) => c.stepsPerSec).toFixed(2),
      mean((c) => c.makespanS).toFixed(1),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines
    .map((l) => l.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}

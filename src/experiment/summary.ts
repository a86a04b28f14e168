/**
 * The minimal per-cell summary of the driver (counts and whole-run rates, by the analysis's
 * definitions). The analysis adds windows; this is what the run itself knows when a cell ends.
 * The end-of-run table is the analysis's (report/tables.ts runTable).
 */
import type { StepRecord, TaskRecord } from '../agent/records.js';
import { THROUGHPUT_DEFINITIONS, throughputRates } from '../analysis/throughput.js';
import { WINDOW_DEFINITIONS } from '../analysis/windows.js';
import type { CellCounts } from '../rundir/run-dir.js';

/** the driver's counts of a cell; its schema is the run directory's (cell.json `counts`) */
export type { CellCounts };

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
    this.span(r.sentMs, r.endMs);
  }

  /** tasks by status so far (the progress line reads these every tick) */
  readonly taskStatus = { ok: 0, failed: 0, incomplete: 0 };

  addTask(t: TaskRecord): void {
    this.tasks.push(t);
    this.span(t.startMs, t.endMs);
    if (t.status === 'ok') this.taskStatus.ok++;
    else if (t.status === 'failed') this.taskStatus.failed++;
    else this.taskStatus.incomplete++;
  }

  /** first dispatch and last end seen (tasks and calls: a program without a task record counts too) */
  private firstMs = Number.POSITIVE_INFINITY;
  private lastMs = Number.NEGATIVE_INFINITY;

  private span(startMs: number, endMs: number): void {
    if (startMs < this.firstMs) this.firstMs = startMs;
    if (endMs > this.lastMs) this.lastMs = endMs;
  }

  /**
   * The driver's counts when the cell ends. Its rates are the analysis's makespan figures
   * (analysis/throughput.ts, over analysis/windows.ts's makespan), computed from the same
   * records: every call ends inside its task, so the makespan holds every record.
   */
  summary(cell: string, status: string): CellCounts {
    const byReason: Record<string, number> = {};
    const { ok, failed, incomplete } = this.taskStatus;
    for (const t of this.tasks) if (t.reason) byReason[t.reason] = (byReason[t.reason] ?? 0) + 1;
    const makespanS = this.lastMs > this.firstMs ? (this.lastMs - this.firstMs) / 1000 : 0;
    const rates = throughputRates(
      {
        tasksEnded: this.tasks.length,
        tasksOk: ok,
        tasksFailed: failed,
        tasksIncomplete: incomplete,
        stepsEnded: this.orchestrator,
        stepsOk: this.orchestratorOk,
      },
      makespanS > 0 ? makespanS : null,
    );
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
      tasksPerMin: rates.okTasksPerMin ?? 0,
      stepsPerSec: rates.okStepsPerS ?? 0,
      definitions: {
        step: 'one orchestrator LLM call (expert and user calls are counted separately)',
        makespanS: WINDOW_DEFINITIONS.makespan,
        tasksPerMin: `over the makespan: ${THROUGHPUT_DEFINITIONS.okTasksPerMin}`,
        stepsPerSec: `over the makespan: ${THROUGHPUT_DEFINITIONS.okStepsPerS}`,
      },
    };
  }
}

/**
 * The one definition of throughput, used by every table, JSON, CSV and report servelab prints
 * (the end-of-run table, summary.json, analyze, compare, report, monitor). Two figures, always
 * named:
 *  - "ok": tasks with status ok / orchestrator calls with status ok. The headline figure.
 *  - "all ended": every task that ended (ok, failed or incomplete) / every orchestrator call
 *    that ended (any status). Shown beside it, never instead of it.
 * Beside steps/s, and never called steps: tau2 role transitions/s (role-transitions.ts), the
 * figure the users' published "steps/s" was.
 * A failed or interrupted task is not throughput: a cell whose tasks were all cut by Ctrl-C
 * has 0 ok tasks/min, however many tasks ended in its last second.
 */

export const THROUGHPUT_DEFINITIONS = {
  okTasksPerMin:
    'ok tasks/min (the headline figure): tasks with status ok that ENDED inside the window / window minutes',
  allTasksPerMin:
    'all-ended tasks/min: tasks that ENDED inside the window with any status (ok, failed, incomplete) / window minutes',
  okStepsPerS:
    'ok steps/s (the headline figure): orchestrator LLM calls with status ok that ENDED inside the window / window seconds',
  allStepsPerS:
    'all-ended steps/s: orchestrator LLM calls that ENDED inside the window with any status / window seconds',
  roleTransitionsPerS:
    "tau2 role transitions/s (NOT steps: what the users' published \"steps/s\" counted, tau2-bench's Orchestrator.step()): messages passed between agent, user and environment that ENDED inside the window / window seconds: each program's opening user message (at its first orchestrator call), each ok orchestrator reply, and the tool or call_expert result or user reply after it (at the call's end + the tool or user time); about 2x ok steps/s. User-side tool calls (tau2 telecom's dual control) are not in the records and not counted",
} as const;

/** Role transitions per second (THROUGHPUT_DEFINITIONS.roleTransitionsPerS); null without a duration. */
export function roleTransitionRate(transitions: number, durationS: number | null): number | null {
  return durationS === null || !(durationS > 0) ? null : transitions / durationS;
}

/** What was counted inside one window (COUNTING_RULE of windows.ts). */
export interface ThroughputCounts {
  /** tasks that ended inside the window, any status */
  tasksEnded: number;
  tasksOk: number;
  tasksFailed: number;
  tasksIncomplete: number;
  /** orchestrator LLM calls that ended inside the window, any status */
  stepsEnded: number;
  /** orchestrator LLM calls with status ok that ended inside the window */
  stepsOk: number;
}

export interface ThroughputRates {
  okTasksPerMin: number | null;
  allTasksPerMin: number | null;
  okStepsPerS: number | null;
  allStepsPerS: number | null;
}

/** The four rates of THROUGHPUT_DEFINITIONS; all null without a duration (no window, zero length). */
export function throughputRates(c: ThroughputCounts, durationS: number | null): ThroughputRates {
  if (durationS === null || !(durationS > 0))
    return { okTasksPerMin: null, allTasksPerMin: null, okStepsPerS: null, allStepsPerS: null };
  return {
    okTasksPerMin: c.tasksOk / (durationS / 60),
    allTasksPerMin: c.tasksEnded / (durationS / 60),
    okStepsPerS: c.stepsOk / durationS,
    allStepsPerS: c.stepsEnded / durationS,
  };
}

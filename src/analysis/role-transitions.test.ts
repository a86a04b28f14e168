import { describe, expect, it } from 'vitest';
import { windowsTable } from '../report/tables.js';
import { summarizeCell } from './cell-summary.js';
import { roleTransitionsIn } from './role-transitions.js';
import { stepTableFromRecords } from './step-table.js';
import { cellInput, step, T0, task } from './testing/fixtures.js';
import { THROUGHPUT_DEFINITIONS } from './throughput.js';
import { countInWindow } from './windows.js';

const ms = (s: number) => T0 + s * 1000;

/**
 * One program p by hand, as tau2's Orchestrator.step() would count it:
 *  0 s   the user's opening message (p's first call is sent)          1
 *  1 s   call 0 ends with a tool call                                  2
 *  1.5 s the tool result comes back (0.5 s)                            3
 *  3 s   call 1 ends with call_expert                                  4
 *  5 s   the expert's answer comes back (2 s; its own record adds 0)   5
 *  6 s   call 2 ends with a message to the user                        6
 *  10 s  the user replies (4 s; a user-model record adds 0)            7
 *  11 s  call 3 ends the task                                          8
 * and program q, whose only call fails: its opening message counts (1), its failed call not.
 */
const STEPS = [
  step('p', 0, 1, { step: 0, next: { type: 'tool', name: 'get_order_details', durationMs: 500 } }),
  step('p', 1.5, 3, { step: 1, next: { type: 'expert', name: 'expert-1', durationMs: 2000 } }),
  step('p', 3, 5, { step: 1, kind: 'expert', expert: 'expert-1' }),
  step('p', 5, 6, { step: 2, next: { type: 'user', durationMs: 4000 } }),
  step('p', 6, 10, { step: 2, kind: 'user' }),
  step('p', 10, 11, { step: 3, next: { type: 'end', durationMs: 0 } }),
  step('q', 2, 4, { status: 'error', errorKind: 'reset' }),
];

describe('tau2 role transitions (hand-built run)', () => {
  it('counts the opening, every ok orchestrator reply and the turn after it, at the time each ended', () => {
    const t = stepTableFromRecords(STEPS);
    expect(roleTransitionsIn(t, ms(0), ms(11))).toBe(9);
    // [1.5 s, 6 s]: the tool result, call 1, the expert answer, call 2, and q's opening at 2 s
    expect(roleTransitionsIn(t, ms(1.5), ms(6))).toBe(5);
    expect(roleTransitionsIn(t, ms(6.5), ms(9.9))).toBe(0);
    expect(roleTransitionsIn(t, ms(10), ms(11))).toBe(2);
  });

  it('sits beside steps/s in the window counts, defined, and leaves the headline as it was', () => {
    const s = summarizeCell(
      cellInput('baseline/c2/r1', {
        steps: STEPS,
        tasks: [task('p', 0, 11), task('q', 2, 4, { status: 'failed' })],
      }),
    );
    const m = s.windows.find((w) => w.kind === 'makespan')!;
    expect(m.durationS).toBe(11);
    expect(m.stepsOk).toBe(4);
    expect(m.stepsEnded).toBe(5);
    expect(m.okStepsPerS).toBeCloseTo(4 / 11, 12);
    expect(m.roleTransitions).toBe(9);
    expect(m.roleTransitionsPerS).toBeCloseTo(9 / 11, 12);
    expect(m.okTasksPerMin).toBeCloseTo(1 / (11 / 60), 12);
    expect(s.definitions.roleTransitionsPerS).toBe(THROUGHPUT_DEFINITIONS.roleTransitionsPerS);
    expect(s.definitions.roleTransitionsPerS).toContain('NOT steps');
    // the analysis table shows it right after the steps, under a name that is not "steps"
    const table = windowsTable(s);
    const col = table.headers.indexOf('tau2 role transitions/s (not steps)');
    expect(table.headers[col - 1]).toBe('steps ok/ended');
    const row = table.rows[s.windows.indexOf(m)]!;
    expect(Number(row[col])).toBeCloseTo(9 / 11, 2);
    expect(table.numeric).toHaveLength(table.headers.length);
  });

  it('has no rate without a window', () => {
    const none = countInWindow(
      { kind: 'active', label: 'x', status: 'none', startMs: null, endMs: null },
      [],
      stepTableFromRecords(STEPS),
    );
    expect(none.roleTransitions).toBe(0);
    expect(none.roleTransitionsPerS).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { etaS, formatDurationS, matrixText } from './progress.js';

describe('matrix progress: cell k of N and an ETA', () => {
  it('before any cell is done: this cell at its task rate, each cell left as long as this one', () => {
    // 10 of 40 tasks in 30 s: 3 s a task, 90 s left here; 2 more cells of 120 s each
    const p = {
      cellIndex: 0,
      cellCount: 3,
      tasksDone: 10,
      tasksTotal: 40,
      cellElapsedS: 30,
      finishedCellsS: [],
    };
    expect(etaS(p)).toBe(90 + 2 * 120);
    expect(matrixText(p)).toBe('cell 1 of 3, ETA 5m30s');
  });

  it('after cells are done: the cells left at their mean duration', () => {
    const p = {
      cellIndex: 2,
      cellCount: 5,
      tasksDone: 20,
      tasksTotal: 40,
      cellElapsedS: 10,
      finishedCellsS: [100, 200],
    };
    expect(etaS(p)).toBe(10 + 2 * 150);
  });

  it('unknown until a task of this cell has ended; the last cell counts only itself', () => {
    expect(
      etaS({ cellIndex: 0, cellCount: 3, tasksDone: 0, tasksTotal: 40, cellElapsedS: 5, finishedCellsS: [] }),
    ).toBe(undefined);
    expect(
      matrixText({
        cellIndex: 1,
        cellCount: 3,
        tasksDone: 0,
        tasksTotal: 4,
        cellElapsedS: 5,
        finishedCellsS: [],
      }),
    ).toBe('cell 2 of 3, ETA ?');
    expect(
      etaS({
        cellIndex: 2,
        cellCount: 3,
        tasksDone: 4,
        tasksTotal: 4,
        cellElapsedS: 8,
        finishedCellsS: [50, 60],
      }),
    ).toBe(0);
  });

  it('formats durations', () => {
    expect(formatDurationS(42)).toBe('42s');
    expect(formatDurationS(75)).toBe('1m15s');
    expect(formatDurationS(3725)).toBe('1h02m');
  });
});

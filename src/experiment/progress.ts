/** Live progress of a cell: tasks done/total, steps/s, tasks/min, errors, KV usage per sampled port. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { CellTally } from './summary.js';

/** Last value per port from the tail of kv_timeseries.csv (the sampler's file). */
export function lastKv(csvPath: string): Map<number, number> {
  const out = new Map<number, number>();
  let fd: number | undefined;
  try {
    const size = statSync(csvPath).size;
    const len = Math.min(size, 8192);
    const buf = Buffer.alloc(len);
    fd = openSync(csvPath, 'r');
    readSync(fd, buf, 0, len, size - len);
    for (const line of buf.toString('utf8').split('\n')) {
      const parts = line.split(',');
      if (parts.length !== 5 || !/kv_cache_usage|cache_usage|token_usage/.test(parts[3] ?? '')) continue;
      const port = Number(parts[2]);
      const v = Number(parts[4]);
      if (Number.isFinite(port) && Number.isFinite(v)) out.set(port, v);
    }
  } catch {
    // no samples yet
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return out;
}

export function progressLine(
  label: string,
  tally: CellTally,
  total: number,
  elapsedS: number,
  kv: Map<number, number>,
  matrix?: MatrixProgress,
): string {
  const done = tally.tasks.length;
  const { ok, failed, incomplete } = tally.taskStatus;
  const kvText = [...kv].map(([p, v]) => `${p}:${(v * 100).toFixed(0)}%`).join(' ');
  const rate = (n: number, per: number) => (elapsedS > 0 ? (n / elapsedS) * per : 0);
  return (
    `[${label}] tasks ${done}/${total} (failed ${failed}${incomplete ? `, incomplete ${incomplete}` : ''}) | ` +
    `${rate(tally.orchestratorOk, 1).toFixed(2)} steps/s ` +
    `${rate(ok, 60).toFixed(2)} tasks/min | errors ${tally.errors} retries ${tally.retries}` +
    (kvText ? ` | KV ${kvText}` : '') +
    ` | ${elapsedS.toFixed(0)} s` +
    (matrix ? ` | ${matrixText(matrix)}` : '')
  );
}

/** Where the matrix stands, for the progress line: this cell, the cells before it, wall time. */
export interface MatrixProgress {
  /** 0-based index of the running cell */
  cellIndex: number;
  cellCount: number;
  tasksDone: number;
  tasksTotal: number;
  /** wall seconds the running cell has been driving */
  cellElapsedS: number;
  /** wall seconds each cell that ran to its end in this invocation took, launch to teardown */
  finishedCellsS: readonly number[];
}

/**
 * Seconds until the matrix ends: the running cell's remaining tasks at its task rate so far,
 * plus each remaining cell at the mean duration of the cells done (or, before any is done, at
 * this cell's projected duration). Undefined until a task of this cell has ended.
 */
export function etaS(p: MatrixProgress): number | undefined {
  if (p.tasksDone <= 0 || p.cellElapsedS <= 0) return undefined;
  const perTaskS = p.cellElapsedS / p.tasksDone;
  const thisLeftS = Math.max(0, p.tasksTotal - p.tasksDone) * perTaskS;
  const perCellS =
    p.finishedCellsS.length > 0
      ? p.finishedCellsS.reduce((a, b) => a + b, 0) / p.finishedCellsS.length
      : perTaskS * p.tasksTotal;
  const cellsLeft = Math.max(0, p.cellCount - p.cellIndex - 1);
  return thisLeftS + cellsLeft * perCellS;
}

/** 75 -> "1m15s", 3725 -> "1h02m" */
export function formatDurationS(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/** "cell 3 of 12, ETA 4m10s" (ETA "?" until a task of this cell has ended) */
export function matrixText(p: MatrixProgress): string {
  const eta = etaS(p);
  return `cell ${p.cellIndex + 1} of ${p.cellCount}, ETA ${eta === undefined ? '?' : formatDurationS(eta)}`;
}

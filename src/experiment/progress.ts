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
    ` | ${elapsedS.toFixed(0)} s`
  );
}

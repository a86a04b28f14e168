/**
 * The progress line of a sweep whose cells' jobs are in the SLURM queue together
 * (`launcher.maxJobs`): how many cells ended, how many jobs are running / pending, how many
 * cells are left to submit, and an ETA that counts the jobs running side by side.
 */
import { formatDurationS } from '../experiment/progress.js';

export interface SlurmSweepProgress {
  /** cells in the plan */
  total: number;
  /** cells complete before this invocation (resume) */
  earlier: number;
  /** cells that ended in this invocation: complete, failed (interrupted ones count as failed) */
  complete: number;
  failed: number;
  /** this invocation's cells whose jobs are in the queue: running, or pending / being submitted */
  running: number;
  pending: number;
  /** cells not submitted yet */
  toSubmit: number;
  maxJobs: number;
  /** wall seconds of each cell that completed in this invocation (submit to results read) */
  finishedCellsS: readonly number[];
  /** wall seconds each cell in the queue has been at it */
  inFlightS: readonly number[];
}

/**
 * Seconds until the sweep ends: the cells in the queue and those left take the mean duration
 * of the cells completed so far, `maxJobs` at a time; never less than what the longest-running
 * cell in the queue still needs. Undefined until a cell completed.
 */
export function slurmEtaS(p: SlurmSweepProgress): number | undefined {
  if (p.finishedCellsS.length === 0) return undefined;
  const mean = p.finishedCellsS.reduce((a, b) => a + b, 0) / p.finishedCellsS.length;
  const left = p.inFlightS.map((s) => Math.max(0, mean - s));
  const inFlightLeft = left.reduce((a, b) => a + b, 0);
  const work = inFlightLeft + p.toSubmit * mean;
  return Math.max(Math.max(0, ...left), work / Math.max(1, p.maxJobs));
}

/** "[slurm] cells ended 5/12 (3 complete, 1 failed, 1 earlier) | jobs 2 running, 2 pending (max 4) | 3 to submit | ETA 4m10s" */
export function slurmProgressLine(p: SlurmSweepProgress): string {
  const ended = p.complete + p.failed + p.earlier;
  const parts = [
    `${p.complete} complete`,
    `${p.failed} failed`,
    ...(p.earlier ? [`${p.earlier} earlier`] : []),
  ];
  const eta = slurmEtaS(p);
  return (
    `[slurm] cells ended ${ended}/${p.total} (${parts.join(', ')}) | ` +
    `jobs ${p.running} running, ${p.pending} pending (max ${p.maxJobs}) | ${p.toSubmit} to submit | ` +
    `ETA ${eta === undefined ? '?' : formatDurationS(eta)}`
  );
}

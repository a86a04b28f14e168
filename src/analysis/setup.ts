/**
 * What was run, and how: per arm and model, the servers' versions, whether they were simulated
 * and on which GPU profile, the simulator's time scaling and lag, and the agent's time scaling.
 * The header of report.html and compare.md (a comparison of simulated arms run at 20 % of the
 * modelled step time says nothing about real GPUs unless the reader is told).
 */
import type { CellSummary } from './cell-summary.js';
import { cellLabel, splitArms } from './compare.js';
import type { ServerInfo } from './run-types.js';

export interface SetupRow {
  arm: string;
  model: string;
  /** server labels (one per replica / port) */
  servers: string[];
  versions: string[];
  kind: 'simulated' | 'real' | 'unknown';
  /** simulated: the GPU profiles; real servers: unknown to servelab (empty) */
  gpus: string[];
  /** simulated: "modelled x0.2", "fixed 1 ms", "modelled" */
  stepTime: string[];
  /** agent.timeScale of the arm's cells (tool latencies, user think times) */
  timeScale: number[];
  /** the largest simulator lag of these servers in one cell, seconds; null when not recorded */
  maxLagS: number | null;
  /** that lag as a share of its cell's makespan */
  maxLagShare: number | null;
  /** the cell that lag was in */
  maxLagCell: string | null;
}

export const SETUP_DEFINITIONS: Record<string, string> = {
  'setup.stepTime':
    "simulated servers: 'modelled' = the roofline step time of the GPU profile; 'modelled x0.2' = stepTimeScale 0.2 (every step takes 20 % of the modelled time: faster than the GPU); 'fixed N ms' = stepTimeMs",
  'setup.timeScale':
    'agent.timeScale: tool latencies and scripted user think times multiplied by it (0.05 = 20x shorter than the domain defaults)',
  'setup.lag':
    "simulated servers: seconds the simulator fell behind its modelled step times because the host could not keep up (servelab:sim_realtime_lag_seconds_total at the cell's end); latencies include it",
};

function flagObject(s: ServerInfo): Record<string, unknown> | null {
  return s.flags && typeof s.flags === 'object' && !Array.isArray(s.flags)
    ? (s.flags as Record<string, unknown>)
    : null;
}

const uniqSorted = <T>(xs: T[]): T[] => [...new Set(xs)].sort();

/** A row with nothing seen yet: the cells add their servers, versions, GPUs and timings to it. */
function newRow(arm: string, model: string, versions: string[]): SetupRow {
  return {
    arm,
    model,
    servers: [],
    versions,
    kind: 'unknown',
    gpus: [],
    stepTime: [],
    timeScale: [],
    maxLagS: null,
    maxLagShare: null,
    maxLagCell: null,
  };
}

export function describeSetup(input: readonly CellSummary[]): SetupRow[] {
  const { cells } = splitArms(input);
  const rows = new Map<string, SetupRow>();
  for (const c of cells) {
    const makespanS = c.windows.find((w) => w.kind === 'makespan')?.durationS ?? null;
    for (const s of c.context.servers) {
      const model = String(s.model ?? '?');
      const key = `${c.arm}\u0000${model}`;
      const row = rows.get(key) ?? newRow(c.arm, model, []);
      const label = String(s.label ?? s.url ?? '?');
      row.servers = uniqSorted([...row.servers, label]);
      row.versions = uniqSorted([...row.versions, String(s.version ?? 'unknown')]);
      const f = flagObject(s);
      const simulated = f?.simulated === true;
      row.kind = simulated ? 'simulated' : s.flags !== undefined || s.version ? 'real' : row.kind;
      if (simulated) {
        if (typeof f?.gpu === 'string') row.gpus = uniqSorted([...row.gpus, f.gpu]);
        const st =
          typeof f?.stepTimeMs === 'number'
            ? `fixed ${f.stepTimeMs} ms`
            : typeof f?.stepTimeScale === 'number' && f.stepTimeScale !== 1
              ? `modelled x${f.stepTimeScale}`
              : 'modelled';
        row.stepTime = uniqSorted([...row.stepTime, st]);
      }
      if (c.context.timing.timeScale !== null)
        row.timeScale = uniqSorted([...row.timeScale, c.context.timing.timeScale]);
      const lag = c.context.timing.simLagS?.[label];
      if (typeof lag === 'number' && (row.maxLagS === null || lag > row.maxLagS)) {
        row.maxLagS = lag;
        row.maxLagShare = makespanS ? lag / makespanS : null;
        row.maxLagCell = cellLabel(c);
      }
      rows.set(key, row);
    }
    // a cell whose servers are not recorded still has its time scaling
    if (c.context.servers.length === 0) {
      const key = `${c.arm}\u0000?`;
      const row = rows.get(key) ?? newRow(c.arm, '?', ['not recorded']);
      if (c.context.timing.timeScale !== null)
        row.timeScale = uniqSorted([...row.timeScale, c.context.timing.timeScale]);
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}

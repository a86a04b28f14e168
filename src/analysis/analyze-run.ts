import { type AnalyzeOptions, type CellSummary, summarizeCell } from './cell-summary.js';
import type { AgentRunInput, ServerInfo } from './run-types.js';

/**
 * Servers as environment.json lists them (an array under `servers`, or an object keyed by
 * label). Used to fill versions / flags a cell.json lacks.
 */
export function environmentServers(env: Record<string, unknown> | null): ServerInfo[] {
  const s = env?.servers;
  if (Array.isArray(s)) return s.filter((x) => x && typeof x === 'object') as ServerInfo[];
  if (s && typeof s === 'object')
    return Object.entries(s as Record<string, ServerInfo>).map(([label, v]) => ({ label, ...v }));
  return [];
}

function mergeServers(cellServers: ServerInfo[], env: ServerInfo[]): ServerInfo[] {
  if (cellServers.length === 0) return env;
  return cellServers.map((c) => {
    const e = env.find((x) => (c.label && x.label === c.label) || (c.url && x.url === c.url));
    return e ? { ...e, ...Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) } : c;
  });
}

/** Every cell of an agent run summarised; servers completed from environment.json. */
export function analyzeAgentRun(run: AgentRunInput, opts: AnalyzeOptions = {}): CellSummary[] {
  const env = environmentServers(run.environment);
  return run.cells.map((cell) => {
    const s = summarizeCell(cell, opts);
    // `servelab run` lists servers per cell (`cell` field); older files list them once
    const mine = env.filter((e) => e.cell === undefined || e.cell === cell.id);
    s.context.servers = mergeServers(s.context.servers, mine);
    return s;
  });
}

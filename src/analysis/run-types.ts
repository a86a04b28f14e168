import type { TaskRecord } from '../agent/records.js';
import type { RequestRecord } from '../loadgen/records.js';
import type { KvSample } from './kv-window.js';
import type { StepTable } from './step-table.js';

/** A server as cell.json / environment.json describe it (fields are optional: older runs lack some). */
export interface ServerInfo {
  label?: string;
  url?: string;
  model?: string;
  version?: string;
  flags?: string[] | string | Record<string, unknown>;
  /** fields the server is known to act on / ignore, when a launcher recorded it */
  actsOnFields?: string[];
  ignoresFields?: string[];
  [key: string]: unknown;
}

/** cell.json (docs/FORMATS.md); everything optional so partial or older cells still load. */
export interface CellMeta {
  v?: number;
  arm?: string;
  concurrency?: number;
  rep?: number;
  seed?: number;
  status?: 'running' | 'complete' | 'interrupted' | 'failed' | string;
  startMs?: number;
  endMs?: number;
  orchestratorPort?: number;
  taskSet?: { name?: string; count?: number; seed?: number };
  servers?: ServerInfo[];
  programFields?: string[];
  notes?: string[];
  warnings?: string[];
  /** where the arm POSTed program releases (absent: it did not ask) */
  releaseUrl?: string;
  /** agent.timeScale of the spec */
  timeScale?: number;
  /** simulated servers only: seconds each fell behind its modelled step times, by label */
  simRealtimeLagS?: Record<string, number>;
  [key: string]: unknown;
}

export interface RunMeta {
  v?: number;
  kind?: 'agent' | 'bench' | string;
  name?: string;
  createdAt?: string;
  servelabVersion?: string;
  cells?: string[];
  /** `servelab bench` writes its argv (redacted); other writers an object */
  args?: Record<string, unknown> | string[];
  config?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What the loader reports about lines it could not parse (a truncated last line of a partial run). */
export interface SkippedLines {
  file: string;
  lines: number;
  /** true when only the last line was bad (a run cut mid-write) */
  lastLineOnly: boolean;
}

/** One agent cell, loaded: the input of summarizeCell. */
export interface CellInput {
  /** "<arm>/c<N>/r<k>" */
  id: string;
  meta: CellMeta;
  steps: StepTable;
  tasks: TaskRecord[];
  kv: KvSample[];
  skipped: SkippedLines[];
  /** files the cell lacks (steps.jsonl, tasks.jsonl, kv_timeseries.csv, cell.json) */
  missing: string[];
}

export interface AgentRunInput {
  kind: 'agent';
  dir: string;
  run: RunMeta;
  environment: Record<string, unknown> | null;
  cells: CellInput[];
}

export interface BenchRunInput {
  kind: 'bench';
  dir: string;
  run: RunMeta;
  requests: RequestRecord[];
  /** the bench engineer's summary.json, when present */
  summary: Record<string, unknown> | null;
  kv: KvSample[];
  skipped: SkippedLines[];
  missing: string[];
}

export type RunInput = AgentRunInput | BenchRunInput;

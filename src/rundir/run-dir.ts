/**
 * The agent run directory (docs/FORMATS.md): every JSON file in it has one schema here, one
 * writer and one reader, both here. A writer validates what it writes (a bug in servelab fails
 * at the write, not later in a reader); a reader accepts what any version-1 writer wrote
 * (fields may be missing in partial or older runs, never of another type) and keeps keys it
 * does not know.
 *
 * Owners (who calls the writer):
 *   run.json, spec.yaml, environment.json                     experiment/run-experiment.ts
 *   <cell>/cell.json                                          experiment/cell.ts
 *   <cell>/summary.json                                        the analysis (report/write.ts,
 *                                                              `servelab analyze`)
 * The driver's own counts of a cell live in cell.json (`counts`), which only the experiment
 * writes: resume reads them there, never from summary.json.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ServelabError } from '../errors.js';

export const RUN_FILES = {
  run: 'run.json',
  spec: 'spec.yaml',
  environment: 'environment.json',
  cell: 'cell.json',
  summary: 'summary.json',
} as const;

// ---------------------------------------------------------------- schemas

export const serverInfoSchema = z.looseObject({
  label: z.string(),
  url: z.string(),
  model: z.string(),
  /** the port the server actually listened on (a free one when the sim's freePorts is on) */
  port: z.number().int(),
  version: z.string().optional(),
  flags: z.union([z.array(z.string()), z.string(), z.record(z.string(), z.unknown())]).optional(),
  log: z.string().optional(),
});

/** run.json of an agent run (a bench run's run.json is loadgen/run-dir.ts's; read here too). */
export const runJsonSchema = z.looseObject({
  v: z.literal(1),
  kind: z.literal('agent'),
  name: z.string(),
  createdAt: z.string(),
  servelabVersion: z.string(),
  cells: z.array(z.string()),
  replay: z.string().optional(),
  /** real time (default when absent) or virtual time (`servelab simulate`, `run --virtual`) */
  mode: z.enum(['real', 'virtual']).optional(),
});
export type RunJson = z.output<typeof runJsonSchema>;

/** what run.json readers accept: either kind, any field missing */
const runJsonReadSchema = z.looseObject({
  v: z.number().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  createdAt: z.string().optional(),
  servelabVersion: z.string().optional(),
  cells: z.array(z.string()).optional(),
  replay: z.string().optional(),
  args: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
});
export type RunJsonRead = z.output<typeof runJsonReadSchema>;

export const environmentSchema = z.looseObject({
  v: z.literal(1),
  servelabVersion: z.string(),
  node: z.string(),
  platform: z.string(),
  host: z.string(),
  /** every server of every cell run so far, with the ports it really listened on */
  servers: z.array(serverInfoSchema.extend({ cell: z.string(), arm: z.string() })),
  /** virtual: every server was a simulated engine in-process on one virtual clock */
  mode: z.enum(['real', 'virtual']).optional(),
});
export type EnvironmentJson = z.output<typeof environmentSchema>;
const environmentReadSchema = environmentSchema.partial().extend({
  servers: z
    .union([z.array(z.record(z.string(), z.unknown())), z.record(z.string(), z.unknown())])
    .optional(),
});
export type EnvironmentRead = z.output<typeof environmentReadSchema>;

/** The driver's counts of a cell (whole-run rates over the makespan; only ok work is throughput). */
export const cellCountsSchema = z.object({
  v: z.literal(1),
  cell: z.string(),
  status: z.string(),
  tasks: z.object({
    total: z.number(),
    ok: z.number(),
    failed: z.number(),
    incomplete: z.number(),
    byReason: z.record(z.string(), z.number()),
  }),
  calls: z.object({
    orchestrator: z.number(),
    expert: z.number(),
    user: z.number(),
    errors: z.number(),
    retries: z.number(),
  }),
  /** first task start to last task end, seconds */
  makespanS: z.number(),
  /** ok tasks per minute over the makespan */
  tasksPerMin: z.number(),
  /** ok orchestrator calls per second over the makespan */
  stepsPerSec: z.number(),
  definitions: z.record(z.string(), z.string()),
});
export type CellCounts = z.output<typeof cellCountsSchema>;

export const CELL_STATUSES = ['running', 'complete', 'interrupted', 'failed'] as const;

/** why a cell failed, by phase: `launch` = its servers could not be started */
export const cellFailureSchema = z.object({
  phase: z.enum(['launch', 'preflight', 'setup', 'drive']),
  message: z.string(),
  hint: z.string().optional(),
});
export type CellFailure = z.output<typeof cellFailureSchema>;

export const cellJsonSchema = z.looseObject({
  v: z.literal(1),
  arm: z.string(),
  concurrency: z.number().int(),
  rep: z.number().int(),
  seed: z.number(),
  status: z.enum(CELL_STATUSES),
  startMs: z.number(),
  endMs: z.number().optional(),
  orchestratorPort: z.number().int().optional(),
  taskSet: z.object({ name: z.string(), count: z.number(), seed: z.number() }).optional(),
  servers: z.array(serverInfoSchema).optional(),
  programFields: z.array(z.string()),
  notes: z.array(z.string()),
  stalledTasks: z.array(z.string()).optional(),
  orchestratorReceivedFields: z.record(z.string(), z.number()).optional(),
  preflight: z.array(z.looseObject({ label: z.string() })).optional(),
  undispatched: z.number().optional(),
  failure: cellFailureSchema.optional(),
  /** the driver's counts, written when the cell ends */
  counts: cellCountsSchema.optional(),
  /** the last phase the cell entered: launch, preflight, setup, drive, teardown */
  phaseReached: z.enum(['launch', 'preflight', 'setup', 'drive', 'teardown']).optional(),
  /** virtual: the cell's servers were simulated in-process on a virtual clock */
  mode: z.literal('virtual').optional(),
  /** virtual time: the engines as simulated (GPU, blocks, limits, scheduling policy, step-time scale) */
  simulation: z.record(z.string(), z.unknown()).optional(),
  /**
   * the servers are kept across the cells of a series (a load scenario's levels): who started
   * them, and whether this cell found them running (its teardown did not stop them)
   */
  serversKept: z.object({ launchedBy: z.string(), reused: z.boolean() }).optional(),
});
export type CellJson = z.output<typeof cellJsonSchema>;
const cellJsonReadSchema = cellJsonSchema.partial().extend({
  // older or hand-made cells: any status string; servers with fields missing
  status: z.string().optional(),
  servers: z.array(z.record(z.string(), z.unknown())).optional(),
  preflight: z.array(z.record(z.string(), z.unknown())).optional(),
  counts: z.unknown().optional(),
});
export type CellJsonRead = z.output<typeof cellJsonReadSchema>;

/** summary.json of a cell: the analysis's CellSummary (analysis/cell-summary.ts has its shape). */
export const cellSummaryFileSchema = z.looseObject({
  v: z.literal(1),
  kind: z.literal('agent-cell'),
  id: z.string(),
});

// ---------------------------------------------------------------- writing and reading

function problems(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
}

function writeValidated<S extends z.ZodType>(path: string, schema: S, value: z.input<S>): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new ServelabError('INTERNAL', `servelab would write an invalid ${path}: ${problems(r.error)}`);
  mkdirSync(dirname(path), { recursive: true });
  // write then rename: a reader (monitor, a crash) never sees half a file
  const tmp = `${path}.tmp-${Math.random().toString(36).slice(2, 10)}`;
  writeFileSync(tmp, `${JSON.stringify(r.data, null, 2)}\n`);
  renameSync(tmp, path);
  return r.data;
}

/**
 * Reads one JSON file of the run dir: null when it does not exist; BAD_FILE when it does not
 * parse or has a field of the wrong type (naming the file and the field).
 */
function readValidated<S extends z.ZodType>(path: string, schema: S): z.output<S> | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ServelabError('BAD_FILE', `${path} is not valid JSON`, {
      cause: err,
      hint: 'was the run cut while writing it?',
    });
  }
  const r = schema.safeParse(value);
  if (!r.success)
    throw new ServelabError(
      'BAD_FILE',
      `${path} is not a servelab ${path.split('/').pop()}: ${problems(r.error)}`,
      {
        hint: 'was it edited by hand, or written by another tool?',
      },
    );
  return r.data;
}

export function writeRunJson(runDir: string, value: RunJson): RunJson {
  return writeValidated(join(runDir, RUN_FILES.run), runJsonSchema, value);
}
export function readRunJson(runDir: string): RunJsonRead | null {
  return readValidated(join(runDir, RUN_FILES.run), runJsonReadSchema);
}

export function writeSpecYaml(runDir: string, text: string): void {
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, RUN_FILES.spec), text);
}

export function writeEnvironment(runDir: string, value: EnvironmentJson): EnvironmentJson {
  return writeValidated(join(runDir, RUN_FILES.environment), environmentSchema, value);
}
export function readEnvironment(runDir: string): EnvironmentRead | null {
  return readValidated(join(runDir, RUN_FILES.environment), environmentReadSchema);
}

export function cellDir(runDir: string, cellId: string): string {
  return join(runDir, cellId);
}

export function writeCellJson(dir: string, value: CellJson): CellJson {
  return writeValidated(join(dir, RUN_FILES.cell), cellJsonSchema, value);
}
/** cell.json of a cell directory (null when absent). */
export function readCellJson(dir: string): CellJsonRead | null {
  return readValidated(join(dir, RUN_FILES.cell), cellJsonReadSchema);
}

/**
 * What resume needs of a cell: its status and, for a complete cell, the driver's counts.
 * Only cell.json is read; summary.json (the analysis's) may hold anything.
 */
export function readCellForResume(dir: string): { status: string; counts?: CellCounts } | null {
  const c = readCellJson(dir);
  if (!c) return null;
  const counts = cellCountsSchema.safeParse(c.counts);
  return { status: c.status ?? 'running', ...(counts.success ? { counts: counts.data } : {}) };
}

/** The analysis's summary of one cell (its shape: analysis/cell-summary.ts CellSummary). */
export function writeCellSummary(
  runDir: string,
  summary: { readonly v: 1; readonly kind: 'agent-cell'; readonly id: string },
): string {
  const path = join(runDir, summary.id, RUN_FILES.summary);
  writeValidated(path, cellSummaryFileSchema, summary as z.input<typeof cellSummaryFileSchema>);
  return path;
}

export function isRunDir(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.run));
}

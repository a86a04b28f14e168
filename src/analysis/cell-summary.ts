import type { TaskRecord } from '../agent/records.js';
import {
  type ActiveWindow,
  activeWindow,
  isKvUsageMetric,
  type KvEngineChoice,
  type KvSample,
} from './kv-window.js';
import type { CellInput, ServerInfo } from './run-types.js';
import { describe } from './stats.js';
import { THROUGHPUT_DEFINITIONS } from './throughput.js';
import { ERROR_KIND_CONTEXT, type TimeBreakdown, timeBreakdown } from './time-breakdown.js';
import {
  activeBounds,
  COUNTING_RULE,
  clientBounds,
  countInWindow,
  type FixedWindowSpec,
  fixedBounds,
  makespanBounds,
  runSpan,
  WINDOW_DEFINITIONS,
  type WindowCounts,
} from './windows.js';

export interface AnalyzeOptions {
  threshold?: number;
  port?: number;
  window?: FixedWindowSpec;
  /** which KV series of the port the active window reads (default 'max' over engines) */
  kvEngine?: KvEngineChoice;
}

export interface Percentiles {
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
}

export interface TailTask {
  taskId: string;
  status: string;
  /** seconds from the window end to the task end */
  afterWindowS: number;
  durationS: number;
  startedAfterWindow: boolean;
}

export interface CellSummary {
  v: 1;
  kind: 'agent-cell';
  id: string;
  /** the run dir's name, set when cells of several runs are pooled */
  source?: string;
  arm: string;
  concurrency: number | null;
  rep: number | null;
  cellStatus: string;
  partial: boolean;
  partialReasons: string[];
  countingRule: string;
  definitions: Record<string, string>;
  counts: {
    tasks: number;
    tasksOk: number;
    tasksFailed: number;
    tasksIncomplete: number;
    unfinishedPrograms: number;
    orchestratorSteps: number;
    expertCalls: number;
    userCalls: number;
    failedCalls: number;
    retriedCalls: number;
    contextLengthErrors: number;
    /** sum of TaskRecord.steps: should equal the orchestrator calls of finished tasks */
    taskRecordSteps: number;
  };
  kv: ActiveWindow;
  windows: WindowCounts[];
  completionTimeS: { ok: Percentiles; all: Percentiles };
  failuresByReason: Record<string, number>;
  outside: {
    firstDispatchMs: number | null;
    lastEndMs: number | null;
    /** first dispatch -> active window start */
    rampUpS: number | null;
    /** active window end -> last task end */
    tailS: number | null;
    tailTaskCount: number;
    /** the longest-running tasks after the window closed (at most 20) */
    tailTasks: TailTask[];
  };
  time: TimeBreakdown;
  /** what compare needs to find confounds, copied from cell.json and the KV file */
  context: CellContext;
  warnings: string[];
}

export interface CellContext {
  seed: number | null;
  taskSet: { name?: string; count?: number; seed?: number } | null;
  servers: ServerInfo[];
  programFields: string[];
  notes: string[];
  /** fields the server counted as unknown extras (servelab_sim_extra_fields_total{field}): received, not acted on */
  extraFieldsIgnored: string[];
  release: ReleaseOutcome;
  /** how the run was timed: the agent's time scaling and the simulator's lag (cell.json) */
  timing: CellTiming;
}

/** Program releases (POST /programs/release): from the task records, else (older runs) cell.json's notes. */
export interface ReleaseOutcome {
  /** the URL the arm released programs at; null when it did not ask (or an older run did not record it) */
  url: string | null;
  /** releases sent (tasks whose record carries `release`); null for runs before the records had it */
  sent: number | null;
  /** releases that failed */
  failures: number;
  /** failures by "HTTP <status>" or "error" (no answer) */
  byStatus: Record<string, number>;
  /** where the counts come from: the task records, or the notes' wording (servelab before 0.x) */
  source: 'records' | 'notes';
}

export interface CellTiming {
  /** agent.timeScale: tool latencies and scripted user think times were multiplied by it */
  timeScale: number | null;
  /** seconds each simulated server fell behind its modelled step times (by server label) */
  simLagS: Record<string, number> | null;
}

// runs whose task records lack `release`: the notes agent/runtime.ts wrote then
const RELEASE_HTTP = /^release of \S+: HTTP (\d+)/;
const RELEASE_ERROR = /^release of \S+ failed: /;

export function releaseOutcome(meta: CellInput['meta'], tasks: readonly TaskRecord[] = []): ReleaseOutcome {
  const url = typeof meta.releaseUrl === 'string' ? meta.releaseUrl : null;
  const byStatus: Record<string, number> = {};
  let failures = 0;
  const fail = (key: string) => {
    failures++;
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  };
  const released = tasks.filter((t) => t.release !== undefined && t.release !== null);
  if (released.length > 0) {
    for (const t of released)
      if (!t.release!.ok)
        fail(typeof t.release!.httpStatus === 'number' ? `HTTP ${t.release!.httpStatus}` : 'error');
    return { url, sent: released.length, failures, byStatus, source: 'records' };
  }
  for (const n of meta.notes ?? []) {
    const m = RELEASE_HTTP.exec(String(n));
    const key = m ? `HTTP ${m[1]}` : RELEASE_ERROR.test(String(n)) ? 'error' : null;
    if (key) fail(key);
  }
  return { url, sent: null, failures, byStatus, source: 'notes' };
}

function cellTiming(meta: CellInput['meta']): CellTiming {
  const lag = meta.simRealtimeLagS;
  return {
    timeScale: typeof meta.timeScale === 'number' ? meta.timeScale : null,
    simLagS:
      lag && typeof lag === 'object'
        ? Object.fromEntries(
            Object.entries(lag as Record<string, unknown>).filter(
              (e): e is [string, number] => typeof e[1] === 'number',
            ),
          )
        : null,
  };
}

const EXTRA_FIELDS_METRIC = 'servelab_sim_extra_fields_total';

/** Fields the server reports it received but does not act on, from the sampled metric family ('*': unknown which). */
export function ignoredExtraFields(samples: readonly KvSample[]): string[] {
  const seen = new Set<string>();
  for (const s of samples) {
    if (!s.metric.startsWith(EXTRA_FIELDS_METRIC) || !(s.value > 0)) continue;
    const m = /field="([^"]*)"/.exec(s.metric);
    // the sampler sums a family's series into one unlabelled value: some field, not which
    seen.add(m ? m[1]! : '*');
  }
  return [...seen].sort();
}

const pct = (values: number[]): Percentiles => {
  const d = describe(values);
  const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? null : x);
  return {
    count: d.count,
    mean: f(d.mean),
    min: f(d.min),
    max: f(d.max),
    p50: f(d.percentiles[50]),
    p90: f(d.percentiles[90]),
    p95: f(d.percentiles[95]),
    p99: f(d.percentiles[99]),
  };
};

export const CELL_DEFINITIONS: Record<string, string> = {
  ...Object.fromEntries(Object.entries(WINDOW_DEFINITIONS).map(([k, v]) => [`window.${k}`, v])),
  ...THROUGHPUT_DEFINITIONS,
  completionTimeS: 'per task: task end - task start (slot acquired), seconds; ok tasks and all tasks apart',
  rampUpS: 'first task dispatch -> active window start, seconds',
  tailS: 'active window end -> last task end, seconds',
  'time.orchestratorTtft': 'orchestrator call: first token - sent (queue + prefill), when the call streamed',
  'time.orchestratorDecode': 'orchestrator call: end - first token (decode)',
  'time.orchestratorRouterQueue':
    'orchestrator call: ms it waited at a program-aware router before being forwarded (StepRecord.routerQueueMs; part of the TTFT, not beside it)',
  'time.tool/expert/user':
    'duration of what followed an orchestrator call (StepRecord.next.durationMs) by type',
};

export function summarizeCell(cell: CellInput, opts: AnalyzeOptions = {}): CellSummary {
  const { meta, steps, tasks } = cell;
  const [armFromId, cFromId, rFromId] = cell.id.split('/');
  const arm = meta.arm ?? armFromId ?? cell.id;
  const concurrency = meta.concurrency ?? (cFromId ? Number(cFromId.replace(/^c/, '')) || null : null);
  const rep = meta.rep ?? (rFromId ? Number(rFromId.replace(/^r/, '')) : null);
  const warnings: string[] = [];
  const partialReasons: string[] = [];

  const span = runSpan(tasks, steps);
  const kv = activeWindow(cell.kv, {
    threshold: opts.threshold ?? 0.7,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.kvEngine !== undefined ? { engine: opts.kvEngine } : {}),
    ...(meta.orchestratorPort !== undefined ? { orchestratorPort: Number(meta.orchestratorPort) } : {}),
  });
  const active = activeBounds(kv);
  const bounds = [active, clientBounds(tasks, span, concurrency)];
  if (opts.window) bounds.push(fixedBounds(opts.window, span));
  bounds.push(makespanBounds(span));
  const windows = bounds.map((b) => countInWindow(b, tasks, steps));

  // counts
  let orchestratorSteps = 0;
  let expertCalls = 0;
  let userCalls = 0;
  let failedCalls = 0;
  let retriedCalls = 0;
  let contextLengthErrors = 0;
  let retriedContext = 0;
  const ctxCode = steps.errorKinds.indexOf(ERROR_KIND_CONTEXT);
  for (let i = 0; i < steps.n; i++) {
    const k = steps.kind[i]!;
    if (k === 0) orchestratorSteps++;
    else if (k === 1) expertCalls++;
    else userCalls++;
    if (steps.status[i] !== 0) failedCalls++;
    if (steps.retries[i]! > 0) retriedCalls++;
    if (ctxCode > 0 && steps.errorKind[i] === ctxCode) {
      contextLengthErrors++;
      if (steps.retries[i]! > 0) retriedContext++;
    }
  }
  const byStatus = { ok: 0, failed: 0, incomplete: 0 } as Record<string, number>;
  const failuresByReason: Record<string, number> = {};
  let taskRecordSteps = 0;
  for (const t of tasks) {
    byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
    taskRecordSteps += t.steps ?? 0;
    if (t.status !== 'ok') {
      const key = `${t.status}: ${t.reason ?? 'unknown'}`;
      failuresByReason[key] = (failuresByReason[key] ?? 0) + 1;
    }
  }

  // partial run?
  const status = String(meta.status ?? 'unknown');
  if (status !== 'complete') partialReasons.push(`cell status is "${status}", not "complete"`);
  for (const s of cell.skipped)
    partialReasons.push(
      `${s.file}: ${s.lines} unparsable line(s) skipped${s.lastLineOnly ? ' (a truncated last line)' : ''}`,
    );
  for (const m of cell.missing) partialReasons.push(`${m} is missing`);
  if (span.unfinishedPrograms.length)
    partialReasons.push(
      `${span.unfinishedPrograms.length} program(s) have steps but no task record (still running)`,
    );
  if (byStatus.incomplete) partialReasons.push(`${byStatus.incomplete} task(s) ended incomplete`);

  // warnings
  if (tasks.length === 0) warnings.push('no task finished: no task throughput and no completion times');
  if (retriedContext)
    warnings.push(
      `${retriedContext} context-length error(s) were retried: such errors never succeed on retry (the study's runs retried forever)`,
    );
  if (kv.valuesAboveOne)
    warnings.push(
      kv.percentScaled
        ? `${kv.valuesAboveOne} KV samples are above 1 (none above 100): the file holds percents, read as 0-1 fractions (divided by 100)`
        : `${kv.valuesAboveOne} KV samples are above 1, some above 100: not KV-usage fractions nor percents; the active window compares them as they are`,
    );
  const kvPorts = [...new Set(cell.kv.filter((x) => isKvUsageMetric(x.metric)).map((x) => x.port))];
  if (kv.portSource === 'most-sampled' && kvPorts.length > 1)
    warnings.push(
      `the active window uses port ${kv.port} only (the most sampled; the orchestrator's port ${meta.orchestratorPort ?? '?'} has no KV samples); KV was also sampled on ${kvPorts.filter((p) => p !== kv.port).join(', ')}: pass --port to choose`,
    );
  if (typeof kv.engine.asked === 'number' && kv.engine.used !== 'combined' && kv.samples === 0)
    warnings.push(
      `--kv-engine ${kv.engine.asked}: port ${kv.port ?? '-'} has no KV rows of engine ${kv.engine.asked} (${kv.engine.engines.length ? `engines: ${kv.engine.engines.join(', ')}` : 'no per-engine rows: one engine'}); no active window`,
    );
  if (kv.outOfOrder)
    warnings.push(`${kv.outOfOrder} KV sample(s) were out of time order (sorted before analysis)`);
  if (kv.longGaps && kv.maxGapS !== null)
    warnings.push(
      `${kv.longGaps} gap(s) in KV sampling longer than 3x the median interval (max ${kv.maxGapS.toFixed(1)} s): the active window's edges are uncertain by up to that much`,
    );
  const finishedIds = new Set(tasks.map((t) => t.programId));
  let finishedOrchestratorCalls = 0;
  for (let i = 0; i < steps.n; i++)
    if (steps.kind[i] === 0 && finishedIds.has(steps.programIds[steps.program[i]!]!))
      finishedOrchestratorCalls++;
  if (steps.n > 0 && tasks.length > 0 && taskRecordSteps !== finishedOrchestratorCalls)
    warnings.push(
      `tasks.jsonl reports ${taskRecordSteps} steps but steps.jsonl holds ${finishedOrchestratorCalls} orchestrator calls for those tasks; servelab counts the orchestrator calls`,
    );
  const failedTasks = (byStatus.failed ?? 0) + (byStatus.incomplete ?? 0);
  if (failedTasks)
    warnings.push(
      `${failedTasks} of ${tasks.length} tasks did not succeed (${byStatus.failed ?? 0} failed, ${byStatus.incomplete ?? 0} incomplete); ok tasks/min does not count them, all-ended tasks/min does (both shown)`,
    );
  for (const note of [...(meta.warnings ?? []), ...(meta.notes ?? [])])
    if (/bottleneck|saturat|event[- ]loop/i.test(String(note))) warnings.push(`cell.json: ${note}`);

  // outside the active window
  const tailTasks: TailTask[] = [];
  let tailTaskCount = 0;
  if (active.endMs !== null) {
    const we = active.endMs;
    for (const t of tasks) {
      if (t.endMs <= we) continue;
      tailTaskCount++;
      tailTasks.push({
        taskId: t.taskId,
        status: t.status,
        afterWindowS: (t.endMs - we) / 1000,
        durationS: (t.endMs - t.startMs) / 1000,
        startedAfterWindow: t.startMs > we,
      });
    }
    tailTasks.sort((a, b) => b.afterWindowS - a.afterWindowS);
    tailTasks.length = Math.min(tailTasks.length, 20);
  }
  const rampUpS =
    active.startMs !== null && span.firstDispatchMs !== null
      ? (active.startMs - span.firstDispatchMs) / 1000
      : null;
  const tailS =
    active.endMs !== null && span.lastEndMs !== null ? (span.lastEndMs - active.endMs) / 1000 : null;

  const dur = (t: TaskRecord) => (t.endMs - t.startMs) / 1000;
  return {
    v: 1,
    kind: 'agent-cell',
    id: cell.id,
    arm,
    concurrency,
    rep,
    cellStatus: status,
    partial: partialReasons.length > 0,
    partialReasons,
    countingRule: COUNTING_RULE,
    definitions: CELL_DEFINITIONS,
    counts: {
      tasks: tasks.length,
      tasksOk: byStatus.ok ?? 0,
      tasksFailed: byStatus.failed ?? 0,
      tasksIncomplete: byStatus.incomplete ?? 0,
      unfinishedPrograms: span.unfinishedPrograms.length,
      orchestratorSteps,
      expertCalls,
      userCalls,
      failedCalls,
      retriedCalls,
      contextLengthErrors,
      taskRecordSteps,
    },
    kv,
    windows,
    completionTimeS: {
      ok: pct(tasks.filter((t) => t.status === 'ok').map(dur)),
      all: pct(tasks.map(dur)),
    },
    failuresByReason,
    outside: {
      firstDispatchMs: span.firstDispatchMs,
      lastEndMs: span.lastEndMs,
      rampUpS,
      tailS,
      tailTaskCount,
      tailTasks,
    },
    time: timeBreakdown(steps),
    context: {
      seed: typeof meta.seed === 'number' ? meta.seed : null,
      taskSet: meta.taskSet ?? null,
      servers: Array.isArray(meta.servers) ? meta.servers : [],
      programFields: Array.isArray(meta.programFields) ? meta.programFields.map(String) : [],
      notes: [...(meta.notes ?? []), ...(meta.warnings ?? [])].map(String),
      extraFieldsIgnored: ignoredExtraFields(cell.kv),
      release: releaseOutcome(meta, tasks),
      timing: cellTiming(meta),
    },
    warnings,
  };
}

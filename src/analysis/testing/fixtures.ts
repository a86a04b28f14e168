import type { StepRecord, TaskRecord } from '../../agent/records.js';
import type { RequestRecord } from '../../loadgen/records.js';
import type { KvSample } from '../kv-window.js';
import type { CellInput, CellMeta } from '../run-types.js';
import { stepTableFromRecords } from '../step-table.js';

/** Crafted records for hand-computed tests. Times are absolute ms from T0. */
export const T0 = 1_700_000_000_000;

export function task(id: string, startS: number, endS: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    v: 1,
    taskId: id,
    programId: `p-${id}`,
    domain: 'retail',
    status: 'ok',
    steps: 0,
    expertCalls: 0,
    userCalls: 0,
    toolCalls: 0,
    startMs: T0 + startS * 1000,
    endMs: T0 + endS * 1000,
    slot: 0,
    ...extra,
  };
}

export function step(
  taskId: string,
  sentS: number,
  endS: number,
  extra: Partial<StepRecord> = {},
): StepRecord {
  return {
    v: 1,
    taskId,
    programId: `p-${taskId}`,
    domain: 'retail',
    step: 0,
    kind: 'orchestrator',
    model: 'orch',
    endpoint: '127.0.0.1:1900',
    sentMs: T0 + sentS * 1000,
    endMs: T0 + endS * 1000,
    status: 'ok',
    retries: 0,
    promptTokens: 100,
    outputTokens: 10,
    ...extra,
  };
}

export function kvSeries(port: number, startS: number, intervalS: number, values: number[]): KvSample[] {
  return values.map((value, i) => ({
    tsMs: T0 + (startS + i * intervalS) * 1000,
    port,
    metric: 'vllm:kv_cache_usage_perc',
    value,
  }));
}

export function cellInput(
  id: string,
  parts: { meta?: CellMeta; steps?: StepRecord[]; tasks?: TaskRecord[]; kv?: KvSample[] },
): CellInput {
  const [arm, c, r] = id.split('/');
  return {
    id,
    meta: {
      v: 1,
      arm,
      concurrency: Number(c!.slice(1)),
      rep: Number(r!.slice(1)),
      status: 'complete',
      orchestratorPort: 1900,
      ...parts.meta,
    },
    steps: stepTableFromRecords(parts.steps ?? []),
    tasks: parts.tasks ?? [],
    kv: parts.kv ?? [],
    skipped: [],
    missing: [],
  };
}

export function request(
  i: number,
  stage: number,
  sentS: number,
  ttftMs: number,
  e2eMs: number,
  out = 11,
): RequestRecord {
  const sentMs = T0 + sentS * 1000;
  const gaps = out > 1 ? (e2eMs - ttftMs) / (out - 1) : 0;
  return {
    v: 1,
    i,
    warmup: false,
    stage,
    endpoint: '127.0.0.1:8000',
    scheduledMs: sentMs,
    sentMs,
    firstTokenMs: sentMs + ttftMs,
    lastTokenMs: sentMs + e2eMs,
    endMs: sentMs + e2eMs,
    status: 'ok',
    promptTokens: 100,
    outputTokens: out,
    tokenSource: 'usage',
    chunkOffsetsMs: Array.from({ length: out }, (_, k) => ttftMs + k * gaps),
  };
}

/**
 * What every agent program shares: the transport, endpoint pools, limits, the program fields
 * the arm sends, and one helper that makes a model call (with retries) and builds its record.
 */
import type { ProgramField } from '../config/spec.js';
import type { CallRequest, CallResult, ChatMessage, ToolSpec, Transport } from '../loadgen/transport.js';
import { type AgentClock, realClock } from './clock.js';
import type { PoolSet } from './pool.js';
import type { CallKind, NextAction, ReleaseResult, StepRecord, TaskRecord } from './records.js';
import { callWithRetry, type RetryPolicy } from './retry.js';

export interface ProgramLimits {
  maxSteps: number;
  maxTaskTimeMs: number;
  callTimeoutMs: number;
  firstByteTimeoutMs?: number;
  /** a call that receives no byte for this long is ended by the driver's watchdog (error kind 'stalled') */
  stallTimeoutMs?: number;
  retry: RetryPolicy;
}

export interface ProgramConfig {
  orchestrator: string;
  /** expert name -> model */
  experts: Record<string, string>;
  stream: boolean;
  maxTokens: number;
  expertMaxTokens: number;
  temperature: number;
  userMode: 'scripted' | 'model';
  userModel?: string;
  historyTrimTokens?: number;
  systemPromptTokens: number;
  /** multiplies tool latencies and user delays */
  timeScale: number;
  programFields: readonly ProgramField[];
  /** POST here ({program_id}) when a program ends */
  releaseUrl?: string;
  /** replay: how output lengths are imposed */
  replayOutput: 'directive' | 'min_tokens';
  extraBody: Record<string, unknown>;
  apiKey?: string;
}

export interface ProgramContext {
  transport: Transport;
  pools: PoolSet;
  config: ProgramConfig;
  limits: ProgramLimits;
  /** the cell's id, part of every program id */
  cellTag: string;
  now: () => number;
  /** sleeps and timers (tool latencies, think times, back-off, deadlines); default real time on `now` */
  clock?: AgentClock;
  onStep: (r: StepRecord) => void;
  /** any sign of life of a task (call sent, call ended, tool done) for the watchdog */
  onProgress: (taskId: string, what: string) => void;
  onNote: (note: string) => void;
  /**
   * The driver's watchdog, told of each call in flight: `end` cuts the call; the returned watch
   * is touched on every read of the response and told when the call is done. Absent: no stall limit.
   */
  watchCall?: (taskId: string, end: () => void) => CallWatch;
  /** releases a program where no HTTP release URL exists (an in-process router in virtual time) */
  release?: (programId: string) => Promise<void>;
}

export interface CallWatch {
  touch: () => void;
  done: () => void;
}

/** Signals of one task: `stop` = finish the current call then end; `abort` = cut calls now. */
export interface TaskSignals {
  stop: AbortSignal;
  abort: AbortSignal;
}

export interface ProgramIdentity {
  taskId: string;
  programId: string;
  domain: string;
}

export interface CallOutcome {
  result: CallResult;
  retries: number;
  record: StepRecord;
}

/** The program's clock: the injected one, else real time on `ctx.now`. */
export function clockOf(ctx: Pick<ProgramContext, 'clock' | 'now'>): AgentClock {
  return ctx.clock ?? realClock(ctx.now);
}

export function programFieldsBody(
  fields: readonly ProgramField[],
  programId: string,
  f: { isLastStep: boolean; thisFuncCall?: string; lastFuncCall?: string },
): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const k of fields) {
    if (k === 'program_id') body.program_id = programId;
    else if (k === 'job_id') body.job_id = programId;
    else if (k === 'is_last_step') body.is_last_step = f.isLastStep;
    else if (k === 'this_func_call') body.this_func_call = f.thisFuncCall ?? null;
    else if (k === 'last_func_call') body.last_func_call = f.lastFuncCall ?? null;
  }
  return body;
}

export interface ModelCall {
  kind: CallKind;
  step: number;
  model: string;
  expert?: string;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens: number;
  minTokens?: number;
  ignoreEos?: boolean;
  extraBody: Record<string, unknown>;
}

/** One LLM call with retries; the record is returned, not written (the caller adds `next`). */
export async function callModel(
  ctx: ProgramContext,
  id: ProgramIdentity,
  call: ModelCall,
  signals: TaskSignals,
): Promise<CallOutcome> {
  const pool = ctx.pools.get(call.model);
  let endpointLabel = '';
  ctx.onProgress(id.taskId, `${call.kind} call sent`);
  const { result, retries } = await callWithRetry(
    async () => {
      const lease = pool.acquire();
      endpointLabel = lease.endpoint.label ?? lease.endpoint.baseUrl;
      const req: CallRequest = {
        endpoint: lease.endpoint,
        api: 'chat',
        messages: call.messages,
        stream: ctx.config.stream,
        maxTokens: call.maxTokens,
        temperature: ctx.config.temperature,
        extraBody: call.extraBody,
        timeouts: { totalMs: ctx.limits.callTimeoutMs, firstByteMs: ctx.limits.firstByteTimeoutMs },
        signal: signals.abort,
      };
      if (call.tools && call.tools.length > 0) req.tools = call.tools;
      if (call.minTokens !== undefined) req.minTokens = call.minTokens;
      if (call.ignoreEos) req.ignoreEos = true;
      if (ctx.config.apiKey) req.apiKey = ctx.config.apiKey;
      // the watchdog ends a streamed call that makes no progress (the transport sees an abort);
      // a non-streamed answer sends nothing until it is whole, so only callTimeoutS bounds it
      const stall = new AbortController();
      const watch = req.stream ? ctx.watchCall?.(id.taskId, () => stall.abort()) : undefined;
      if (watch) {
        req.signal = AbortSignal.any([signals.abort, stall.signal]);
        req.onActivity = watch.touch;
      }
      try {
        const r = await ctx.transport.call(req);
        return stall.signal.aborted && !signals.abort.aborted ? stalled(r, endpointLabel, ctx.limits) : r;
      } finally {
        watch?.done();
        lease.release();
      }
    },
    ctx.limits.retry,
    signals.stop,
    clockOf(ctx),
  );
  ctx.onProgress(id.taskId, `${call.kind} call ended`);
  const record: StepRecord = {
    v: 1,
    taskId: id.taskId,
    programId: id.programId,
    domain: id.domain,
    step: call.step,
    kind: call.kind,
    model: call.model,
    endpoint: endpointLabel,
    sentMs: result.sentMs,
    endMs: result.endMs,
    status: result.status,
    retries,
    promptTokens: result.usage?.promptTokens ?? 0,
    outputTokens: result.usage?.completionTokens ?? 0,
  };
  if (call.expert) record.expert = call.expert;
  if (result.firstTokenMs !== undefined) record.firstTokenMs = result.firstTokenMs;
  if (result.usage?.cachedTokens !== undefined) record.cachedTokens = result.usage.cachedTokens;
  if (result.finishReason) record.finishReason = result.finishReason;
  if (result.routerQueueMs !== undefined) record.routerQueueMs = result.routerQueueMs;
  if (result.error) {
    record.errorKind = result.error.kind;
    // the client keeps 500 characters of the server's text; this bounds the rest (a long URL)
    record.errorMessage = result.error.message.slice(0, 2000);
    if (result.error.messageChars !== undefined) record.errorMessageChars = result.error.messageChars;
  }
  return { result, retries, record };
}

/** A call the watchdog ended: an error of kind 'stalled' (not retried: the server is stuck). */
function stalled(r: CallResult, endpoint: string, limits: ProgramLimits): CallResult {
  const s = Math.round((limits.stallTimeoutMs ?? 0) / 1000);
  return {
    ...r,
    error: {
      kind: 'stalled',
      message: `${endpoint}: no byte of the response for ${s} s: ended by the watchdog (limits.stallTimeoutS)`,
      retryable: false,
    },
  };
}

/** The reason a failed call ends its task. */
export function failureReason(
  r: CallResult,
  signals: TaskSignals,
  deadlineHit: boolean,
): { status: TaskRecord['status']; reason: string } {
  if (deadlineHit) return { status: 'failed', reason: 'timeout' };
  if (signals.stop.aborted || r.error?.kind === 'aborted')
    return { status: 'incomplete', reason: 'interrupted' };
  if (r.error?.kind === 'context_length') return { status: 'failed', reason: 'context_length' };
  return { status: 'failed', reason: `error:${r.error?.kind ?? 'unknown'}` };
}

export function withNext(r: StepRecord, next: NextAction): StepRecord {
  return { ...r, next };
}

/**
 * POST /programs/release {program_id}. The outcome is data (the task record's `release`, which
 * the analysis counts); a failure is also a note for the reader, never a task failure.
 * Undefined when the arm does not release programs.
 */
export async function releaseProgram(
  ctx: ProgramContext,
  programId: string,
): Promise<ReleaseResult | undefined> {
  if (ctx.release) {
    try {
      await ctx.release(programId);
      return { ok: true };
    } catch (err) {
      ctx.onNote(`release of ${programId} failed: ${(err as Error).message}`);
      return { ok: false };
    }
  }
  if (!ctx.config.releaseUrl) return undefined;
  try {
    const res = await fetch(ctx.config.releaseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ program_id: programId }),
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    if (res.ok) return { ok: true, httpStatus: res.status };
    ctx.onNote(`release of ${programId}: HTTP ${res.status} from ${ctx.config.releaseUrl}`);
    return { ok: false, httpStatus: res.status };
  } catch (err) {
    ctx.onNote(`release of ${programId} failed: ${(err as Error).message}`);
    return { ok: false };
  }
}

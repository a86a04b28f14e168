import type { CallStatus, ErrorKind } from '../loadgen/transport.js';
import type { HistoryRef, PrefixSegment } from './prompt-shape.js';

/** Who made an LLM call in an agent program. A *step* is one orchestrator call, nothing else. */
export type CallKind = 'orchestrator' | 'expert' | 'user';

/** What followed an LLM call before the next orchestrator call. */
export interface NextAction {
  type: 'tool' | 'expert' | 'user' | 'end';
  /** tool name, or expert name ("expert-1") */
  name?: string;
  /** how long the tool / expert call / user turn took, ms */
  durationMs?: number;
}

/**
 * One line of steps.jsonl: one LLM call of an agent program (orchestrator, expert or user
 * model). Appended and flushed as each call ends. This file is also the replay trace.
 */
export interface StepRecord {
  v: 1;
  taskId: string;
  programId: string;
  domain: string;
  /** index of the orchestrator step this call belongs to (0-based) */
  step: number;
  kind: CallKind;
  /** "expert-1" etc. for expert calls */
  expert?: string;
  model: string;
  endpoint: string;
  sentMs: number;
  firstTokenMs?: number;
  endMs: number;
  status: CallStatus;
  errorKind?: ErrorKind;
  /** the error, with at most 500 characters of the server's own text */
  errorMessage?: string;
  /** when the server's text in errorMessage was cut: its full length in characters */
  errorMessageChars?: number;
  /** attempts beyond the first */
  retries: number;
  promptTokens: number;
  cachedTokens?: number;
  outputTokens: number;
  finishReason?: string;
  /** ms the call waited at a program-aware router (its program paused, or no room yet); part of sentMs..endMs */
  routerQueueMs?: number;
  /** for orchestrator calls: what the answer led to */
  next?: NextAction;
  /** orchestrator calls: the program's fixed head (tool schemas, system message), by content hash and size */
  prefix?: PrefixSegment[];
  /** orchestrator calls: the earlier call whose whole prompt (+ answer) this prompt starts with; absent: only `prefix` is shared */
  history?: HistoryRef;
}

export type TaskStatus = 'ok' | 'failed' | 'incomplete';

/** One line of tasks.jsonl: one agent program (task), appended when it ends. */
export interface TaskRecord {
  v: 1;
  taskId: string;
  programId: string;
  domain: string;
  status: TaskStatus;
  /** why it failed or is incomplete: context_length, max_steps, timeout, interrupted, error:<kind> */
  reason?: string;
  /** orchestrator LLM calls */
  steps: number;
  expertCalls: number;
  userCalls: number;
  toolCalls: number;
  /** when the task got its slot and when it ended, absolute ms */
  startMs: number;
  endMs: number;
  /** the slot (0..C-1) it ran in */
  slot: number;
  /** the program's release when the task ended (POST /programs/release); absent: the arm does not release */
  release?: ReleaseResult;
}

/** How a program release went: ok, or not, with the HTTP status when the server answered. */
export interface ReleaseResult {
  ok: boolean;
  /** absent: no answer (connection refused, timeout) */
  httpStatus?: number;
}

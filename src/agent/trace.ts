/**
 * Replay plans: the call structure of each task, read from our own steps.jsonl (the trace every
 * run writes) or from a mooncake-style session trace (AIPerf JSONL: timestamp or delay,
 * session_id, input_length [+ hash_ids] or messages, output_length).
 */
import { readFileSync } from 'node:fs';
import { ServelabError } from '../errors.js';
import type { ChatMessage } from '../loadgen/transport.js';
import type { HistoryRef, PrefixSegment } from './prompt-shape.js';
import type { NextAction, StepRecord } from './records.js';

/** tokens per `hash_ids` entry of a mooncake trace (its block size; AIPerf's default too) */
export const MOONCAKE_BLOCK_TOKENS = 512;

/** A content-addressed run of prompt tokens: equal ids are equal text (mooncake `hash_ids`). */
export interface PromptBlock {
  id: string;
  tokens: number;
}

export interface PlannedCall {
  promptTokens: number;
  outputTokens: number;
}

export interface PlannedStep extends PlannedCall {
  /** what followed: tool (with its duration), expert, user turn, or the end */
  next: NextAction;
  finishReason?: string;
  expert?: PlannedCall & { expert: string; model: string };
  user?: PlannedCall & { model: string };
  /** the program's fixed head (steps.jsonl `prefix`) */
  prefix?: PrefixSegment[];
  /** the earlier step whose prompt (+ answer) this prompt starts with (steps.jsonl `history`) */
  history?: HistoryRef;
  /** the whole prompt as content-addressed blocks (mooncake `hash_ids`) */
  blocks?: PromptBlock[];
  /** the prompt verbatim (mooncake `messages`) */
  messages?: ChatMessage[];
}

export interface TaskPlan {
  taskId: string;
  domain: string;
  steps: PlannedStep[];
}

/** Groups a steps.jsonl into per-task plans in first-send order; failed calls end the plan. */
export function plansFromSteps(records: readonly StepRecord[]): TaskPlan[] {
  const byTask = new Map<string, StepRecord[]>();
  for (const r of records) {
    const list = byTask.get(r.taskId);
    if (list) list.push(r);
    else byTask.set(r.taskId, [r]);
  }
  const plans: { plan: TaskPlan; firstMs: number }[] = [];
  for (const [taskId, recs] of byTask) {
    recs.sort((a, b) => a.step - b.step || a.sentMs - b.sentMs);
    const steps: PlannedStep[] = [];
    for (const r of recs) {
      if (r.kind !== 'orchestrator' || r.status !== 'ok') continue;
      const s: PlannedStep = {
        promptTokens: r.promptTokens,
        outputTokens: r.outputTokens,
        next: r.next ?? { type: 'end' },
      };
      if (r.finishReason) s.finishReason = r.finishReason;
      if (r.prefix) s.prefix = r.prefix;
      if (r.history) s.history = r.history;
      const ex = recs.find((x) => x.kind === 'expert' && x.step === r.step && x.status === 'ok');
      if (ex)
        s.expert = {
          promptTokens: ex.promptTokens,
          outputTokens: ex.outputTokens,
          expert: ex.expert ?? 'expert-1',
          model: ex.model,
        };
      const us = recs.find((x) => x.kind === 'user' && x.step === r.step && x.status === 'ok');
      if (us) s.user = { promptTokens: us.promptTokens, outputTokens: us.outputTokens, model: us.model };
      steps.push(s);
    }
    if (steps.length === 0) continue;
    plans.push({
      plan: { taskId, domain: recs[0]?.domain ?? 'replay', steps },
      firstMs: Math.min(...recs.map((r) => r.sentMs)),
    });
  }
  plans.sort((a, b) => a.firstMs - b.firstMs);
  return plans.map((p) => p.plan);
}

interface MooncakeLine {
  session_id?: string | number;
  timestamp?: number;
  delay?: number;
  input_length?: number;
  output_length?: number;
  hash_ids?: (number | string)[];
  messages?: { role: string; content: unknown }[];
}

/** `hash_ids` as blocks: each full, the last one holding what is left of `input_length`. */
function mooncakeBlocks(ids: readonly (number | string)[], inputLength: number): PromptBlock[] {
  return ids.map((id, k) => ({
    id: `block:${id}`,
    tokens:
      k < ids.length - 1
        ? MOONCAKE_BLOCK_TOKENS
        : Math.max(1, inputLength - MOONCAKE_BLOCK_TOKENS * (ids.length - 1)),
  }));
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
function traceMessages(ms: readonly { role: string; content: unknown }[]): ChatMessage[] {
  return ms.map((m) => ({
    role: (ROLES.has(m.role) ? m.role : 'user') as ChatMessage['role'],
    content: typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? ''),
  }));
}

/** Mooncake-style sessions: each line one call; the gap to the session's next call becomes a tool pause. */
export function plansFromMooncake(lines: readonly MooncakeLine[]): TaskPlan[] {
  const sessions = new Map<string, MooncakeLine[]>();
  lines.forEach((l, i) => {
    const sid = String(l.session_id ?? `line-${i}`);
    const list = sessions.get(sid);
    if (list) list.push(l);
    else sessions.set(sid, [l]);
  });
  const plans: TaskPlan[] = [];
  for (const [sid, ls] of sessions) {
    const steps: PlannedStep[] = ls.map((l, i) => {
      const following = ls[i + 1];
      let gap = 0;
      if (following?.delay !== undefined) gap = following.delay;
      else if (following?.timestamp !== undefined && l.timestamp !== undefined)
        gap = Math.max(0, following.timestamp - l.timestamp);
      const input =
        l.input_length ??
        (l.messages
          ? l.messages.reduce((n, m) => n + String(m.content ?? '').split(/\s+/).length + 5, 0)
          : 0);
      const step: PlannedStep = {
        promptTokens: input,
        outputTokens: l.output_length ?? 1,
        next: following ? { type: 'tool', name: 'trace_gap', durationMs: gap } : { type: 'end' },
      };
      if (l.messages) step.messages = traceMessages(l.messages);
      else if (l.hash_ids && l.hash_ids.length > 0) step.blocks = mooncakeBlocks(l.hash_ids, input);
      return step;
    });
    plans.push({ taskId: sid, domain: 'trace', steps });
  }
  return plans;
}

/** Reads a replay file: ours (has `kind` and `step`) or mooncake-style. */
export function readReplayFile(path: string): TaskPlan[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServelabError('BAD_FILE', `cannot read trace "${path}"`, { cause: err });
  }
  const rows: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      rows.push(JSON.parse(line));
    } catch {
      throw new ServelabError('BAD_FILE', `${path}:${i + 1}: not JSON`);
    }
  });
  if (rows.length === 0) throw new ServelabError('BAD_FILE', `trace "${path}" is empty`);
  const first = rows[0] as Record<string, unknown>;
  const plans =
    'kind' in first && 'step' in first
      ? plansFromSteps(rows as StepRecord[])
      : plansFromMooncake(rows as MooncakeLine[]);
  if (plans.length === 0)
    throw new ServelabError('BAD_FILE', `trace "${path}" holds no successful orchestrator call`);
  return plans;
}

/**
 * Replays one task's recorded call structure against any server: synthetic conversation text
 * (one common word ~ one token) sized so each call's prompt has the recorded token count, with
 * the recorded prefix structure: the program's head (tools, system message) as text shared by
 * every program that shared it, each prompt starting with the earlier prompt (+ answer) it
 * started with when recorded (so history trimming is replayed, not re-decided), mooncake
 * `hash_ids` as shared blocks of text; output lengths imposed by the simulator's directive or
 * by max_tokens = min_tokens + ignore_eos; the same tool gaps, expert choices and user turns.
 */
import type { ChatMessage, ToolCall } from '../loadgen/transport.js';
import { messageMemoOn } from '../memo.js';
import { estimateTokens, trimMiddle } from './history.js';
import { expertAnswer, forExpert, type TaskRun, taskDeadline } from './live.js';
import { type PrefixSegment, PromptShape, prefixSegments } from './prompt-shape.js';
import type { NextAction, TaskRecord } from './records.js';

import { hashString, mixSeed, mulberry32, words } from './rng.js';
import {
  callModel,
  clockOf,
  failureReason,
  type ModelCall,
  type ProgramContext,
  type ProgramIdentity,
  programFieldsBody,
  releaseProgram,
  type TaskSignals,
} from './runtime.js';
import type { PlannedStep, PromptBlock, TaskPlan } from './trace.js';

/** Seeded words per id: equal ids give equal text, in every program and every run. */
function idText(id: string, tokens: number): string {
  return words(mulberry32(hashString(id)), tokens);
}

/** The program's head as one system message of the recorded segments, within `capTokens`. */
function headMessage(segments: readonly PrefixSegment[], capTokens: number): ChatMessage {
  const parts: string[] = [];
  let left = capTokens;
  for (const seg of segments) {
    const n = Math.min(seg.tokens, left);
    if (n <= 0) break;
    parts.push(idText(seg.id, n));
    left -= n;
  }
  return { role: 'system', content: parts.join(' ') };
}

function blocksText(blocks: readonly PromptBlock[]): string {
  return blocks.map((b) => idText(b.id, b.tokens)).join(' ');
}

/** estimateTokens of one message (the same per-message term) */
const oneEstimate = (m: ChatMessage): number => estimateTokens([m]);

/** estimateTokens(messages), given as carried from the earlier prompts (recounted with the memos off) */
const counted = (messages: readonly ChatMessage[], carried: number): number =>
  messageMemoOn() ? carried : estimateTokens(messages);

/**
 * Learns the server's token count from what it reports: est = words + 5/msg + delta + perMsg x
 * new msgs. Takes the messages' estimateTokens as given: the replay keeps it per prompt as the
 * prompts grow, so a call counts only its new messages (not the whole conversation again).
 */
class PromptCalibration {
  private delta = 0;
  private perMsg = 0;
  private lastMsgs = 0;
  private lastDelta: number | undefined;

  estimate(words: number, messages: number): number {
    return words + this.delta + this.perMsg * (messages - this.lastMsgs);
  }

  observe(words: number, messages: number, reported: number): void {
    if (reported <= 0) return;
    const d = reported - words;
    if (this.lastDelta !== undefined && messages > this.lastMsgs) {
      this.perMsg = (d - this.lastDelta) / (messages - this.lastMsgs);
    }
    this.lastDelta = d;
    this.delta = d;
    this.lastMsgs = messages;
  }
}

function directiveCalls(next: NextAction): { name: string; arguments: Record<string, unknown> }[] {
  if (next.type === 'tool') return [{ name: next.name ?? 'tool', arguments: { id: 'replay' } }];
  if (next.type === 'expert')
    return [{ name: 'call_expert', arguments: { expert: next.name ?? 'expert-1' } }];
  return [];
}

function funcName(next: NextAction | undefined): string | undefined {
  if (!next) return undefined;
  if (next.type === 'expert') return 'call_expert';
  return next.type === 'tool' ? next.name : undefined;
}

export async function runReplayTask(
  ctx: ProgramContext,
  plan: TaskPlan,
  run: Omit<TaskRun, 'task'>,
  outer: TaskSignals,
): Promise<TaskRecord> {
  const cfg = ctx.config;
  const id: ProgramIdentity = { taskId: plan.taskId, programId: run.programId, domain: plan.domain };
  const rng = mulberry32(mixSeed(hashString(plan.taskId), 0x5eed));
  const calib = new PromptCalibration();
  const firstTokens = plan.steps[0]?.promptTokens ?? 0;
  const headPrefix = plan.steps[0]?.prefix;
  // traces without a recorded head (older steps.jsonl, mooncake lengths): a per-task system prompt
  const head: ChatMessage = headPrefix
    ? headMessage(headPrefix, Math.max(0, firstTokens - 8))
    : {
        role: 'system',
        content: `You are an agent. ${words(rng, Math.min(cfg.systemPromptTokens, Math.max(0, firstTokens - 40)))}`,
      };
  // experts are offered no tools: their conversation starts with the head less its tool schemas
  const expertHead: ChatMessage = headPrefix
    ? headMessage(
        headPrefix.filter((g) => !g.id.startsWith('tools:')),
        Math.max(0, firstTokens - 8),
      )
    : head;
  /**
   * An expert's view of the conversation. Experts are sent the whole conversation, untrimmed:
   * where the orchestrator's prompt was trimmed, the expert's conversation goes on from the one
   * the previous expert call was sent, grown to the recorded size (so it keeps its prefix).
   */
  let expertConv: ChatMessage[] | undefined;
  const forExpertCall = (ms: readonly ChatMessage[], recordedTokens: number): ChatMessage[] => {
    let out = forExpert(ms[0] === head ? [expertHead, ...ms.slice(1)] : ms);
    if (recordedTokens - estimateTokens(out) > 16) {
      const base = expertConv && estimateTokens(expertConv) < recordedTokens ? expertConv : out;
      const missing = recordedTokens - estimateTokens(base);
      out = missing > 16 ? [...base, { role: 'user', content: words(rng, missing - 5) }] : [...base];
    }
    expertConv = out;
    return out;
  };
  /** the whole conversation so far (traces without `history`) */
  let messages: ChatMessage[] = [head];
  /** estimateTokens(messages) */
  let messagesEst = oneEstimate(head);
  /** each call's prompt with its estimateTokens, and the answer appended after it */
  const sent: { prompt: ChatMessage[]; est: number; answer?: ChatMessage }[] = [];
  const shape = new PromptShape();
  const dl = taskDeadline(ctx, outer);
  const signals = dl.signals;
  const startMs = ctx.now();
  const counts = { steps: 0, expertCalls: 0, userCalls: 0, toolCalls: 0 };
  let end: { status: TaskRecord['status']; reason?: string } | undefined;
  let pendingRole: 'user' | 'tool' = 'user';
  let pendingToolId: string | undefined;

  const output = (
    n: number,
    calls: { name: string; arguments: Record<string, unknown> }[],
    finish?: string,
  ): Pick<ModelCall, 'maxTokens' | 'minTokens' | 'ignoreEos' | 'extraBody'> =>
    cfg.replayOutput === 'directive'
      ? {
          maxTokens: Math.max(n, cfg.maxTokens),
          extraBody: {
            servelab_directive: {
              output_tokens: n,
              tool_calls: calls,
              ...(finish ? { finish_reason: finish } : {}),
            },
          },
        }
      : { maxTokens: Math.max(1, n), minTokens: Math.max(1, n), ignoreEos: true, extraBody: {} };

  try {
    for (let i = 0; i < plan.steps.length && !end; i++) {
      const s = plan.steps[i] as PlannedStep;
      end = dl.endBefore(i);
      if (end) break;
      let prompt: ChatMessage[];
      /** estimateTokens(prompt) */
      let promptEst: number;
      if (s.messages) {
        prompt = s.messages;
        promptEst = estimateTokens(prompt);
      } else if (s.blocks) {
        prompt = [{ role: 'user', content: blocksText(s.blocks) }];
        promptEst = estimateTokens(prompt);
      } else {
        const h = s.history ? sent[s.history.step] : undefined;
        let base: ChatMessage[];
        let baseEst: number;
        let role = pendingRole;
        if (h) {
          const withAnswer = s.history?.answer && h.answer;
          base = withAnswer && h.answer ? [...h.prompt, h.answer] : [...h.prompt];
          baseEst = withAnswer && h.answer ? h.est + oneEstimate(h.answer) : h.est;
          if (!withAnswer) role = 'user';
        } else if (i === 0 || s.prefix) {
          // recorded: nothing but the program's head is shared with earlier calls
          base = [head];
          baseEst = oneEstimate(head);
          role = 'user';
        } else {
          base = messages;
          baseEst = messagesEst;
        }
        // the message that brings the prompt to the recorded size
        const probe: ChatMessage = { role, content: '' };
        if (role === 'tool') probe.tool_call_id = pendingToolId ?? 'call_replay';
        const need = Math.max(
          1,
          Math.round(
            s.promptTokens -
              calib.estimate(counted([...base, probe], baseEst + oneEstimate(probe)), base.length + 1),
          ),
        );
        probe.content = words(rng, need);
        prompt = [...base, probe];
        promptEst = counted(prompt, baseEst + oneEstimate(probe));
        const over = calib.estimate(promptEst, prompt.length) - s.promptTokens;
        if (!h && base === messages && over > 16) {
          // an older trace that trimmed its history: keep head and recent messages within the size
          prompt = trimMiddle(prompt, promptEst - over);
          promptEst = estimateTokens(prompt);
        }
      }
      const promptShape = {
        prefix: s.prefix ?? prefixSegments(prompt),
        ...shape.prompt(i, prompt),
      };
      const out = output(s.outputTokens, directiveCalls(s.next), s.finishReason);
      const res = await callModel(
        ctx,
        id,
        {
          kind: 'orchestrator',
          step: i,
          model: cfg.orchestrator,
          messages: prompt,
          ...out,
          extraBody: {
            ...cfg.extraBody,
            ...out.extraBody,
            ...programFieldsBody(cfg.programFields, run.programId, {
              isLastStep: i === plan.steps.length - 1,
              thisFuncCall: funcName(s.next),
              lastFuncCall: funcName(plan.steps[i - 1]?.next),
            }),
          },
        },
        signals,
      );
      counts.steps++;
      if (res.result.status !== 'ok') {
        ctx.onStep({ ...res.record, ...promptShape });
        end = failureReason(res.result, signals, dl.hit());
        break;
      }
      calib.observe(promptEst, prompt.length, res.result.usage?.promptTokens ?? 0);
      const r = res.result;
      const calls: ToolCall[] = r.toolCalls.length
        ? r.toolCalls
        : directiveCalls(s.next).map((c, k) => ({
            id: `call_${i}_${k}`,
            type: 'function',
            function: { name: c.name, arguments: JSON.stringify(c.arguments) },
          }));
      const answer: ChatMessage = {
        role: 'assistant',
        content: r.text || (calls.length ? null : expertAnswer(r.text, r.reasoning) || '...'),
        ...(calls.length ? { tool_calls: calls } : {}),
      };
      messages = [...prompt, answer];
      messagesEst = promptEst + oneEstimate(answer);
      sent[i] = { prompt, est: promptEst, answer };
      shape.answered(i, answer);
      pendingRole = calls.length ? 'tool' : 'user';
      pendingToolId = calls[0]?.id;
      const t0 = ctx.now();
      const next: NextAction = { type: s.next.type };
      if (s.next.name) next.name = s.next.name;
      if (s.next.type === 'expert') {
        const ex = s.expert ?? {
          expert: s.next.name ?? 'expert-1',
          model: cfg.experts[s.next.name ?? ''] ?? '',
          outputTokens: 100,
          promptTokens: 0,
        };
        const model = cfg.experts[ex.expert] ?? ex.model;
        const eo = output(ex.outputTokens, []);
        const er = await callModel(
          ctx,
          id,
          {
            kind: 'expert',
            step: i,
            expert: ex.expert,
            model,
            messages: forExpertCall(messages, ex.promptTokens),
            ...eo,
            extraBody: {
              ...cfg.extraBody,
              ...eo.extraBody,
              ...programFieldsBody(cfg.programFields, run.programId, { isLastStep: false }),
            },
          },
          signals,
        );
        counts.expertCalls++;
        ctx.onStep(er.record);
        if (er.result.status !== 'ok') end = failureReason(er.result, signals, dl.hit());
      } else if (s.next.type === 'tool') {
        counts.toolCalls++;
        await clockOf(ctx).sleep((s.next.durationMs ?? 0) * cfg.timeScale, signals.stop);
      } else if (s.next.type === 'user') {
        if (s.user && cfg.userMode === 'model') {
          const uo = output(s.user.outputTokens, []);
          const ur = await callModel(
            ctx,
            id,
            {
              kind: 'user',
              step: i,
              model: cfg.userModel ?? s.user.model,
              messages: forExpertCall(messages, s.user.promptTokens),
              ...uo,
              extraBody: { ...cfg.extraBody, ...uo.extraBody },
            },
            signals,
          );
          counts.userCalls++;
          ctx.onStep(ur.record);
          if (ur.result.status !== 'ok') end = failureReason(ur.result, signals, dl.hit());
        } else {
          await clockOf(ctx).sleep((s.next.durationMs ?? 0) * cfg.timeScale, signals.stop);
        }
      } else if (!end) {
        end = { status: 'ok' };
      }
      ctx.onProgress(plan.taskId, 'action done');
      next.durationMs = ctx.now() - t0;
      ctx.onStep({ ...res.record, next, ...promptShape });
    }
    if (!end) end = { status: 'ok' };
  } finally {
    dl.clear();
  }
  const release = await releaseProgram(ctx, run.programId);
  const rec: TaskRecord = {
    v: 1,
    taskId: plan.taskId,
    programId: run.programId,
    domain: plan.domain,
    status: end.status,
    steps: counts.steps,
    expertCalls: counts.expertCalls,
    userCalls: counts.userCalls,
    toolCalls: counts.toolCalls,
    startMs,
    endMs: ctx.now(),
    slot: run.slot,
  };
  if (release) rec.release = release;
  if (end.reason) rec.reason = end.reason;
  return rec;
}

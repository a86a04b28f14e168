/**
 * Replays one task's recorded call structure against any server: synthetic conversation text
 * (one common word ~ one token) sized so each call's prompt has the recorded token count and
 * grows by the same prefix; output lengths imposed by the simulator's directive or by
 * max_tokens = min_tokens + ignore_eos; the same tool gaps, expert choices and user turns.
 */
import type { ChatMessage, ToolCall } from '../loadgen/transport.js';
import { estimateTokens, trimMiddle } from './history.js';
import { expertAnswer, forExpert, type TaskRun, taskDeadline } from './live.js';
import type { NextAction, TaskRecord } from './records.js';
import { sleep } from './retry.js';
import { hashString, mixSeed, mulberry32, words } from './rng.js';
import {
  callModel,
  failureReason,
  type ModelCall,
  type ProgramContext,
  type ProgramIdentity,
  programFieldsBody,
  releaseProgram,
  type TaskSignals,
} from './runtime.js';
import type { PlannedStep, TaskPlan } from './trace.js';

/** Learns the server's token count from what it reports: est = words + 5/msg + delta + perMsg x new msgs. */
class PromptCalibration {
  private delta = 0;
  private perMsg = 0;
  private lastMsgs = 0;
  private lastDelta: number | undefined;

  estimate(messages: readonly ChatMessage[]): number {
    return estimateTokens(messages) + this.delta + this.perMsg * (messages.length - this.lastMsgs);
  }

  observe(messages: readonly ChatMessage[], reported: number): void {
    if (reported <= 0) return;
    const d = reported - estimateTokens(messages);
    if (this.lastDelta !== undefined && messages.length > this.lastMsgs) {
      this.perMsg = (d - this.lastDelta) / (messages.length - this.lastMsgs);
    }
    this.lastDelta = d;
    this.delta = d;
    this.lastMsgs = messages.length;
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
  const messages: ChatMessage[] = [
    {
      role: 'system',
      content: `You are an agent. ${words(rng, Math.min(cfg.systemPromptTokens, Math.max(0, (plan.steps[0]?.promptTokens ?? 0) - 40)))}`,
    },
  ];
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
      // the message that brings the prompt to the recorded size
      const probe: ChatMessage = { role: pendingRole, content: '' };
      if (pendingRole === 'tool') probe.tool_call_id = pendingToolId ?? 'call_replay';
      const need = Math.max(1, Math.round(s.promptTokens - calib.estimate([...messages, probe])));
      probe.content = words(rng, need);
      messages.push(probe);
      let prompt: ChatMessage[] = messages;
      if (calib.estimate(messages) > s.promptTokens + 16 || cfg.historyTrimTokens) {
        prompt = trimMiddle(
          messages,
          Math.min(cfg.historyTrimTokens ?? Number.POSITIVE_INFINITY, s.promptTokens),
        );
      }
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
        ctx.onStep(res.record);
        end = failureReason(res.result, signals, dl.hit());
        break;
      }
      calib.observe(prompt, res.result.usage?.promptTokens ?? 0);
      const r = res.result;
      const calls: ToolCall[] = r.toolCalls.length
        ? r.toolCalls
        : directiveCalls(s.next).map((c, k) => ({
            id: `call_${i}_${k}`,
            type: 'function',
            function: { name: c.name, arguments: JSON.stringify(c.arguments) },
          }));
      messages.push({
        role: 'assistant',
        content: r.text || (calls.length ? null : expertAnswer(r.text, r.reasoning) || '...'),
        ...(calls.length ? { tool_calls: calls } : {}),
      });
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
            messages: forExpert(prompt.concat(messages.slice(-1))),
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
        await sleep((s.next.durationMs ?? 0) * cfg.timeScale, signals.stop);
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
              messages: forExpert(messages),
              ...uo,
              extraBody: { ...cfg.extraBody, ...uo.extraBody },
            },
            signals,
          );
          counts.userCalls++;
          ctx.onStep(ur.record);
          if (ur.result.status !== 'ok') end = failureReason(ur.result, signals, dl.hit());
        } else {
          await sleep((s.next.durationMs ?? 0) * cfg.timeScale, signals.stop);
        }
      } else if (!end) {
        end = { status: 'ok' };
      }
      ctx.onProgress(plan.taskId, 'action done');
      next.durationMs = ctx.now() - t0;
      ctx.onStep({ ...res.record, next });
    }
    if (!end) end = { status: 'ok' };
  } finally {
    dl.clear();
  }
  await releaseProgram(ctx, run.programId);
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
  if (end.reason) rec.reason = end.reason;
  return rec;
}

/**
 * A live agent program: the orchestrator model decides. Each answer calls tools (domain tools
 * with seeded latency and result sizes, or call_expert which sends the conversation to that
 * expert's pool), or answers in text, which leads to a user turn (scripted think time or a
 * model playing the customer) until the task's user turns are used up, then the task ends.
 */
import type { ChatMessage, ToolCall } from '../loadgen/transport.js';
import { messageMemoOn } from '../memo.js';
import { toolSpecs, trimMiddle } from './history.js';
import { PromptShape, prefixSegments } from './prompt-shape.js';
import type { NextAction, StepRecord, TaskRecord } from './records.js';
import { logNormal, mixSeed, mulberry32, words } from './rng.js';
import {
  callModel,
  clockOf,
  failureReason,
  type ProgramContext,
  type ProgramIdentity,
  programFieldsBody,
  releaseProgram,
  type TaskSignals,
} from './runtime.js';
import type { AgentTask } from './taskset.js';

/** The text of an expert's answer: content, else reasoning (gpt-oss answers with content null). */
export function expertAnswer(text: string, reasoning: string): string {
  return text.trim().length > 0 ? text : reasoning;
}

/** The conversation as an expert sees it: no tools, tool results as user text. */
export function forExpert(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map(expertView);
}

function expertViewOf(m: ChatMessage): ChatMessage {
  if (m.role === 'tool') return { role: 'user', content: m.content };
  if (m.tool_calls)
    return {
      role: 'assistant',
      content: m.content ?? m.tool_calls.map((t) => `${t.function.name}(${t.function.arguments})`).join(' '),
    };
  return m;
}

/**
 * Each message's expert view, kept per message object (with what it was made from) so that the
 * expert calls of a program send the same objects every time: the simulator's tokenizer then
 * encodes only the new ones (see src/memo.ts).
 */
const EXPERT_VIEW = new WeakMap<ChatMessage, { role: string; content: unknown; view: ChatMessage }>();

function expertView(m: ChatMessage): ChatMessage {
  if (m.role !== 'tool' && !m.tool_calls) return m;
  if (!messageMemoOn() || Array.isArray(m.content)) return expertViewOf(m);
  const hit = EXPERT_VIEW.get(m);
  if (hit && hit.role === m.role && hit.content === m.content) {
    if (m.role === 'tool' || (m.content !== null && m.content !== undefined)) return hit.view;
    // content null: the view is the tool calls' text, made again and compared
    const view = expertViewOf(m);
    if (view.content === hit.view.content) return hit.view;
  }
  const view = expertViewOf(m);
  EXPERT_VIEW.set(m, { role: m.role, content: m.content, view });
  return view;
}

function parseExpert(tc: ToolCall, known: readonly string[]): string {
  try {
    const args = JSON.parse(tc.function.arguments) as { expert?: unknown };
    if (typeof args.expert === 'string' && known.includes(args.expert)) return args.expert;
  } catch {
    // a model that writes bad JSON still gets an expert: the first one
  }
  return known[0] as string;
}

export interface TaskRun {
  task: AgentTask;
  slot: number;
  programId: string;
}

export function taskDeadline(
  ctx: ProgramContext,
  signals: TaskSignals,
): {
  signals: TaskSignals;
  hit: () => boolean;
  /** why the task must end before orchestrator call `step` (stopped, timed out, step cap), if it must */
  endBefore: (step: number) => { status: TaskRecord['status']; reason: string } | undefined;
  clear: () => void;
} {
  const ac = new AbortController();
  const cancel = clockOf(ctx).after(ctx.limits.maxTaskTimeMs, () => ac.abort());
  const stop = AbortSignal.any([signals.stop, ac.signal]);
  return {
    signals: { stop, abort: AbortSignal.any([signals.abort, ac.signal]) },
    hit: () => ac.signal.aborted,
    endBefore: (step) => {
      if (stop.aborted)
        return ac.signal.aborted
          ? { status: 'failed', reason: 'timeout' }
          : { status: 'incomplete', reason: 'interrupted' };
      if (step >= ctx.limits.maxSteps) return { status: 'failed', reason: 'max_steps' };
      return undefined;
    },
    clear: cancel,
  };
}

export async function runLiveTask(
  ctx: ProgramContext,
  run: TaskRun,
  outer: TaskSignals,
): Promise<TaskRecord> {
  const { task } = run;
  const cfg = ctx.config;
  const id: ProgramIdentity = { taskId: task.id, programId: run.programId, domain: task.domain };
  const rng = mulberry32(mixSeed(task.seed, 0x11fe));
  const experts = Object.keys(cfg.experts);
  const tools = toolSpecs(task.tools, experts);
  const messages: ChatMessage[] = [
    {
      role: 'system',
      content: `You are a ${task.domain} customer service agent. ${words(rng, cfg.systemPromptTokens)}`,
    },
    { role: 'user', content: words(rng, task.firstUserTokens) },
  ];
  const dl = taskDeadline(ctx, outer);
  const signals = dl.signals;
  const clock = clockOf(ctx);
  const startMs = ctx.now();
  const counts = { steps: 0, expertCalls: 0, userCalls: 0, toolCalls: 0 };
  let userTurnsLeft = task.userTurns;
  // the tool the previous orchestrator call ended in (the fork's last_func_call); this call's own
  // tool is not known until it answers, so this_func_call goes as null and the server parses it
  let lastTool: string | undefined;
  let end: { status: TaskRecord['status']; reason?: string } | undefined;
  // what a replay needs to rebuild the prefix structure (see prompt-shape.ts)
  const shape = new PromptShape();
  const prefix = prefixSegments(messages, tools);

  try {
    for (let step = 0; !end; step++) {
      end = dl.endBefore(step);
      if (end) break;
      const prompt = cfg.historyTrimTokens ? trimMiddle(messages, cfg.historyTrimTokens) : messages;
      const promptShape = { prefix, ...shape.prompt(step, prompt) };
      const out = await callModel(
        ctx,
        id,
        {
          kind: 'orchestrator',
          step,
          model: cfg.orchestrator,
          messages: prompt,
          tools,
          maxTokens: cfg.maxTokens,
          extraBody: {
            ...cfg.extraBody,
            ...programFieldsBody(cfg.programFields, run.programId, {
              isLastStep: step === ctx.limits.maxSteps - 1,
              lastFuncCall: lastTool,
            }),
          },
        },
        signals,
      );
      counts.steps++;
      if (out.result.status !== 'ok') {
        ctx.onStep({ ...out.record, ...promptShape });
        end = failureReason(out.result, signals, dl.hit());
        break;
      }
      const r = out.result;
      const answer: ChatMessage = {
        role: 'assistant',
        content: r.text || null,
        ...(r.toolCalls.length ? { tool_calls: r.toolCalls } : {}),
      };
      messages.push(answer);
      shape.answered(step, answer);
      let next: NextAction;
      const t0 = ctx.now();
      if (r.toolCalls.length > 0) {
        const first = r.toolCalls[0] as ToolCall;
        next =
          first.function.name === 'call_expert' && experts.length > 0
            ? { type: 'expert', name: parseExpert(first, experts) }
            : { type: 'tool', name: first.function.name };
        for (const tc of r.toolCalls) {
          if (tc.function.name === 'call_expert' && experts.length > 0) {
            const expert = parseExpert(tc, experts);
            const ex = await callModel(
              ctx,
              id,
              {
                kind: 'expert',
                step,
                expert,
                model: cfg.experts[expert] as string,
                messages: forExpert(messages),
                maxTokens: cfg.expertMaxTokens,
                extraBody: {
                  ...cfg.extraBody,
                  ...programFieldsBody(cfg.programFields, run.programId, { isLastStep: false }),
                },
              },
              signals,
            );
            counts.expertCalls++;
            ctx.onStep(ex.record);
            if (ex.result.status !== 'ok') {
              end = failureReason(ex.result, signals, dl.hit());
              break;
            }
            messages.push({
              role: 'tool',
              tool_call_id: tc.id,
              content: expertAnswer(ex.result.text, ex.result.reasoning) || '(no answer)',
            });
          } else {
            counts.toolCalls++;
            const latency =
              logNormal(rng, task.toolLatencyMs.median, task.toolLatencyMs.sigma, 0, 600_000) * cfg.timeScale;
            await clock.sleep(latency, signals.stop);
            const size = Math.round(
              logNormal(rng, task.toolResultTokens.median, task.toolResultTokens.sigma, 1, 20_000),
            );
            messages.push({ role: 'tool', tool_call_id: tc.id, content: words(rng, size) });
          }
          ctx.onProgress(task.id, 'tool done');
          if (signals.stop.aborted) break;
        }
        lastTool = next.type === 'expert' ? 'call_expert' : next.name;
      } else if (userTurnsLeft > 0) {
        userTurnsLeft--;
        lastTool = undefined;
        next = { type: 'user' };
        if (cfg.userMode === 'model' && cfg.userModel) {
          const flipped: ChatMessage[] = [
            {
              role: 'system',
              content: `You are a customer of a ${task.domain} company. Answer the agent briefly.`,
            },
            ...messages
              .filter((m) => (m.role === 'user' || m.role === 'assistant') && m.content)
              .map(
                (m) =>
                  ({ role: m.role === 'user' ? 'assistant' : 'user', content: m.content }) as ChatMessage,
              ),
          ];
          const u = await callModel(
            ctx,
            id,
            {
              kind: 'user',
              step,
              model: cfg.userModel,
              messages: flipped,
              maxTokens: 512,
              extraBody: { ...cfg.extraBody },
            },
            signals,
          );
          counts.userCalls++;
          ctx.onStep(u.record);
          if (u.result.status !== 'ok') end = failureReason(u.result, signals, dl.hit());
          else messages.push({ role: 'user', content: u.result.text || words(rng, 20) });
        } else {
          await clock.sleep(
            logNormal(rng, task.userDelayMs.median, task.userDelayMs.sigma, 0, 600_000) * cfg.timeScale,
            signals.stop,
          );
          messages.push({ role: 'user', content: words(rng, Math.round(logNormal(rng, 40, 0.6, 3, 400))) });
        }
        ctx.onProgress(task.id, 'user turn done');
      } else {
        next = { type: 'end' };
        end = { status: 'ok' };
      }
      next.durationMs = ctx.now() - t0;
      ctx.onStep({ ...out.record, next, ...promptShape } satisfies StepRecord);
    }
  } finally {
    dl.clear();
  }
  const release = await releaseProgram(ctx, run.programId);
  const rec: TaskRecord = {
    v: 1,
    taskId: task.id,
    programId: run.programId,
    domain: task.domain,
    status: end?.status ?? 'incomplete',
    steps: counts.steps,
    expertCalls: counts.expertCalls,
    userCalls: counts.userCalls,
    toolCalls: counts.toolCalls,
    startMs,
    endMs: ctx.now(),
    slot: run.slot,
  };
  if (release) rec.release = release;
  if (end?.reason) rec.reason = end.reason;
  return rec;
}

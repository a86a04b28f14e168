/**
 * Personas: what the simulated model "says", as a plan of output segments (the engine only
 * counts tokens; the plan gives those tokens their text). Every draw is seeded by the server seed
 * and a hash of the conversation, so the same request gets the same answer.
 *
 * - plain: filler text of a seeded length.
 * - orchestrator: with `tools` offered, calls them (call_expert with expert-1/2/3 when offered)
 *   for a seeded number of steps per user turn, then answers in text (hermes-style tool calls).
 * - gpt-oss: reasoning text (reasoning_content / reasoning), then a short final answer; some
 *   answers are reasoning only, so `content` is null (the W1 quirk).
 * - qwen3: `<think>...</think>` inside content unless thinking is disabled.
 */
import {
  fillerWords,
  hashString,
  intIn,
  logNormalInt,
  mixSeed,
  mulberry32,
  type Rng,
} from './persona-rng.js';
import { type ChatMessageLike, contentText, countTokens, splitPieces } from './tokenizer.js';

export const PERSONAS = ['plain', 'orchestrator', 'gpt-oss', 'qwen3'] as const;
export type PersonaName = (typeof PERSONAS)[number];

export type Channel = 'content' | 'reasoning';
export type Segment =
  | { kind: 'text'; channel: Channel; text: string }
  | { kind: 'filler'; channel: Channel; tokens: number }
  | { kind: 'tool'; name: string; arguments: string };

export interface OutputPlan {
  segments: Segment[];
  /** reported instead of the engine's reason (trace replay) */
  finishReason?: string;
}

export interface PersonaInput {
  /** chat messages; absent for /v1/completions */
  messages?: readonly ChatMessageLike[];
  /** offered tools (already filtered: tool_choice "none" means none) */
  tools?: readonly unknown[] | null;
  enableThinking: boolean;
  /** thinking was turned off by `/no_think` (Qwen3 then writes an empty think block) */
  thinkingSoftOff?: boolean;
  /** tool_choice "required" / a named function: answer with a call to one of these */
  forceTools?: readonly unknown[];
  /** program_id / job_id when the client sent one (keys the orchestrator's per-conversation draw) */
  programKey?: string;
  /** hash of the prompt text (completions) */
  promptKey?: number;
  seed: number;
}

/** The directive for trace replay: the sim produces exactly this. */
export interface Directive {
  output_tokens?: number;
  tool_calls?: { name: string; arguments?: unknown }[];
  finish_reason?: string;
}

/** Tokens a tool call costs in hermes form: `<tool_call>\n{"name": .., "arguments": ..}\n</tool_call>`. */
export function toolHeader(name: string): string {
  return `<tool_call>\n{"name": ${JSON.stringify(name)}, "arguments": `;
}
export const TOOL_TRAILER = '}\n</tool_call>';

export function segmentTokens(s: Segment): number {
  if (s.kind === 'filler') return s.tokens;
  if (s.kind === 'text') return splitPieces(s.text).length;
  return countTokens(toolHeader(s.name)) + splitPieces(s.arguments).length + countTokens(TOOL_TRAILER);
}

export function planTokens(plan: OutputPlan): number {
  let n = 0;
  for (const s of plan.segments) n += segmentTokens(s);
  return n;
}

export function planFromDirective(d: Directive): OutputPlan {
  const tools: Segment[] = (d.tool_calls ?? []).map((tc) => ({
    kind: 'tool',
    name: tc.name,
    arguments: typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments ?? {}),
  }));
  let toolTokens = 0;
  for (const t of tools) toolTokens += segmentTokens(t);
  const segments: Segment[] = [];
  const fill = Math.max(0, (d.output_tokens ?? (tools.length > 0 ? 0 : 16)) - toolTokens);
  if (fill > 0) segments.push({ kind: 'filler', channel: 'content', tokens: fill });
  segments.push(...tools);
  const plan: OutputPlan = { segments };
  if (d.finish_reason) plan.finishReason = d.finish_reason;
  return plan;
}

function conversationKey(input: PersonaInput): number {
  if (input.programKey) return hashString(input.programKey);
  const firstUser = input.messages?.find((m) => m.role === 'user');
  return hashString(firstUser ? contentText(firstUser.content) : '');
}

function lastMessageKey(input: PersonaInput): number {
  const msgs = input.messages;
  if (!msgs || msgs.length === 0) return input.promptKey ?? 0;
  return mixSeed(hashString(contentText(msgs[msgs.length - 1]!.content)), msgs.length);
}

interface ToolSpec {
  name: string;
  parameters: { properties?: Record<string, Record<string, unknown>>; required?: string[] } | undefined;
}

function toolSpecs(tools: readonly unknown[]): ToolSpec[] {
  const out: ToolSpec[] = [];
  for (const t of tools) {
    const fn = (t as { function?: { name?: unknown; parameters?: unknown } })?.function;
    if (fn && typeof fn.name === 'string')
      out.push({ name: fn.name, parameters: fn.parameters as ToolSpec['parameters'] });
  }
  return out;
}

const DEFAULT_EXPERTS = ['expert-1', 'expert-2', 'expert-3'];

/** Arguments that fit the tool's JSON schema (enums picked, strings of filler words). */
function argumentsFor(spec: ToolSpec, rng: Rng): string {
  const props = spec.parameters?.properties ?? {};
  const args: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(props).slice(0, 8)) {
    const enumVals = Array.isArray(schema.enum) ? (schema.enum as unknown[]) : undefined;
    if (spec.name === 'call_expert' && key === 'expert') {
      const experts = enumVals && enumVals.length > 0 ? enumVals : DEFAULT_EXPERTS;
      args[key] = experts[Math.floor(rng.next() * experts.length)];
    } else if (enumVals && enumVals.length > 0) {
      args[key] = enumVals[Math.floor(rng.next() * enumVals.length)];
    } else if (schema.type === 'integer' || schema.type === 'number') {
      args[key] = intIn(rng, 1, 1000);
    } else if (schema.type === 'boolean') {
      args[key] = rng.next() < 0.5;
    } else if (schema.type === 'array') {
      args[key] = [];
    } else if (schema.type === 'object') {
      args[key] = {};
    } else {
      args[key] = fillerWords(rng, spec.name === 'call_expert' ? intIn(rng, 12, 40) : intIn(rng, 1, 6));
    }
  }
  return JSON.stringify(args);
}

function plainPlan(rng: Rng): OutputPlan {
  return { segments: [{ kind: 'filler', channel: 'content', tokens: logNormalInt(rng, 180, 0.8, 8, 2048) }] };
}

function orchestratorPlan(input: PersonaInput): OutputPlan {
  const msgs = input.messages ?? [];
  const forced = input.forceTools !== undefined;
  const specs = toolSpecs(input.forceTools ?? input.tools ?? []);
  const conv = conversationKey(input);
  let lastUser = -1;
  let userTurns = 0;
  for (let i = 0; i < msgs.length; i++) {
    if (msgs[i]!.role === 'user') {
      lastUser = i;
      userTurns++;
    }
  }
  let stepsDone = 0;
  for (let i = lastUser + 1; i < msgs.length; i++) if (msgs[i]!.role === 'assistant') stepsDone++;
  const target = intIn(mulberry32(mixSeed(input.seed, conv, userTurns, 1)), 1, 6);
  const rng = mulberry32(mixSeed(input.seed, conv, userTurns, stepsDone, 2));
  if (specs.length === 0 || (stepsDone >= target && !forced)) {
    return { segments: [{ kind: 'filler', channel: 'content', tokens: logNormalInt(rng, 60, 0.7, 4, 600) }] };
  }
  const expert = specs.find((s) => s.name === 'call_expert');
  const others = specs.filter((s) => s.name !== 'call_expert');
  const pick =
    expert && (others.length === 0 || rng.next() < 0.5)
      ? expert
      : others[Math.floor(rng.next() * others.length)]!;
  return { segments: [{ kind: 'tool', name: pick.name, arguments: argumentsFor(pick, rng) }] };
}

function gptOssPlan(rng: Rng): OutputPlan {
  const segments: Segment[] = [
    { kind: 'filler', channel: 'reasoning', tokens: logNormalInt(rng, 150, 0.7, 8, 2048) },
  ];
  if (rng.next() >= 0.25)
    segments.push({ kind: 'filler', channel: 'content', tokens: logNormalInt(rng, 40, 0.6, 2, 400) });
  return { segments };
}

function qwen3Plan(rng: Rng, thinking: boolean, emptyThink: boolean): OutputPlan {
  const answer: Segment = {
    kind: 'filler',
    channel: 'content',
    tokens: logNormalInt(rng, 120, 0.7, 4, 1500),
  };
  // `/no_think`: Qwen3 writes an empty think block, then answers
  if (!thinking && emptyThink)
    return { segments: [{ kind: 'text', channel: 'content', text: '<think>\n\n</think>\n\n' }, answer] };
  if (!thinking) return { segments: [answer] };
  return {
    segments: [
      { kind: 'text', channel: 'content', text: '<think>\n' },
      { kind: 'filler', channel: 'content', tokens: logNormalInt(rng, 250, 0.7, 8, 3000) },
      { kind: 'text', channel: 'content', text: '\n</think>\n\n' },
      answer,
    ],
  };
}

/** The persona's natural answer (its EOS point) to this request. */
export function planOutput(persona: PersonaName, input: PersonaInput): OutputPlan {
  if (input.forceTools && input.forceTools.length > 0 && input.messages) return orchestratorPlan(input);
  const rng = mulberry32(mixSeed(input.seed, lastMessageKey(input), 7));
  switch (persona) {
    case 'plain':
      return plainPlan(rng);
    case 'orchestrator':
      return input.messages && input.tools && input.tools.length > 0
        ? orchestratorPlan(input)
        : plainPlan(rng);
    case 'gpt-oss':
      return gptOssPlan(rng);
    case 'qwen3':
      return qwen3Plan(
        rng,
        input.enableThinking && input.messages !== undefined,
        input.thinkingSoftOff === true && input.messages !== undefined,
      );
  }
}

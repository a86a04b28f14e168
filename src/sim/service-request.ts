/**
 * Request validation and reading for the service: the fields vLLM knows (anything else is an
 * "extra field", accepted and ignored like vLLM does, but counted), message checks, the
 * output-length knobs. Pure functions over the parsed JSON body.
 */
import type { EngineProgramFields } from './engine-api.js';
import type { Directive } from './persona.js';
import { type ApiError, apiError } from './service-errors.js';
import { type ChatMessageLike, contentText } from './tokenizer.js';

/** Top-level fields of vLLM's ChatCompletionRequest / CompletionRequest (0.11). */
export const KNOWN_FIELDS = new Set(
  (
    'messages model prompt suffix frequency_penalty logit_bias logprobs top_logprobs max_tokens ' +
    'max_completion_tokens n presence_penalty response_format seed stop stream stream_options temperature top_p ' +
    'tools tool_choice reasoning_effort include_reasoning parallel_tool_calls user best_of use_beam_search top_k ' +
    'min_p repetition_penalty length_penalty stop_token_ids include_stop_str_in_output ignore_eos min_tokens ' +
    'skip_special_tokens spaces_between_special_tokens truncate_prompt_tokens prompt_logprobs allowed_token_ids ' +
    'bad_words echo add_generation_prompt continue_final_message add_special_tokens documents chat_template ' +
    'chat_template_kwargs mm_processor_kwargs guided_json guided_regex guided_choice guided_grammar structural_tag ' +
    'guided_decoding_backend guided_whitespace_pattern structured_outputs priority request_id logits_processors ' +
    'return_tokens_as_token_ids return_token_ids cache_salt kv_transfer_params vllm_xargs metadata store ' +
    'service_tier modalities audio prediction web_search_options function_call functions prompt_embeds ' +
    'servelab_directive'
  ).split(' '),
);

/**
 * Top-level fields the Continuum fork adds to both request models (its protocol.py:
 * `job_id: Optional[str]`, `is_last_step: Optional[bool]`, `this_func_call: Optional[str]`,
 * `last_func_call: Optional[str]`); plain vLLM 0.11 ignores them as extra fields.
 */
export const CONTINUUM_FIELDS = ['job_id', 'is_last_step', 'this_func_call', 'last_func_call'] as const;

export type Body = Record<string, unknown>;

/** fields vLLM would ignore; `continuum`: the fork's own fields are not extra */
export function extraFields(body: Body, continuum = false): string[] {
  const out: string[] = [];
  for (const k of Object.keys(body)) {
    if (KNOWN_FIELDS.has(k)) continue;
    if (continuum && (CONTINUUM_FIELDS as readonly string[]).includes(k)) continue;
    out.push(k);
  }
  return out;
}

/**
 * vLLM's `priority: int = 0` (smaller first; only the `priority` scheduling policy orders by it:
 * vLLM 0.11's V1 engine accepts a non-zero priority under fcfs and ignores it, where V0 raised
 * "Priority scheduling is not enabled"). Pydantic's lax int: an integer, or a float or string
 * holding one; anything else (null included) is a 400.
 */
export function readPriority(body: Body): number | ApiError {
  const v = body.priority;
  if (v === undefined) return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    return apiError(400, `priority must be an integer, got ${JSON.stringify(v)}.`, 'priority');
  }
  return n;
}

/**
 * The Continuum fork's program fields, typed as its pydantic model reads them (a string job id:
 * a number is a 400 there; null or absent: the fork's `None` job). Only read when the engine runs
 * the continuum policy; plain vLLM ignores these fields whatever their type.
 */
export function readProgramFields(body: Body): EngineProgramFields | ApiError {
  const out: EngineProgramFields = {};
  for (const k of ['job_id', 'this_func_call', 'last_func_call'] as const) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') {
      return apiError(400, `${k} must be a string or null, got ${JSON.stringify(v)}.`, k);
    }
    if (k === 'job_id') out.jobId = v;
    else if (k === 'this_func_call') out.thisFuncCall = v;
    else out.lastFuncCall = v;
  }
  const last = body.is_last_step;
  if (last !== undefined && last !== null) {
    const b = laxBool(last);
    if (b === undefined) {
      return apiError(
        400,
        `is_last_step must be a boolean or null, got ${JSON.stringify(last)}.`,
        'is_last_step',
      );
    }
    out.isLastStep = b;
  }
  return out;
}

/** pydantic's lax bool: true/false, 0/1, and the strings it accepts for them */
function laxBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  if (['1', 'on', 't', 'true', 'y', 'yes'].includes(s)) return true;
  if (['0', 'off', 'f', 'false', 'n', 'no'].includes(s)) return false;
  return undefined;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export interface LengthKnobs {
  /** max_completion_tokens ?? max_tokens, when given */
  maxTokens?: number;
  minTokens: number;
  ignoreEos: boolean;
}

export function readLengthKnobs(body: Body): LengthKnobs | ApiError {
  const raw = body.max_completion_tokens ?? body.max_tokens;
  const knobs: LengthKnobs = { minTokens: 0, ignoreEos: body.ignore_eos === true };
  if (raw !== undefined && raw !== null) {
    if (!isInt(raw) || raw < 1) {
      return apiError(400, `max_tokens must be at least 1, got ${JSON.stringify(raw)}.`, 'max_tokens');
    }
    knobs.maxTokens = raw;
  }
  if (body.min_tokens !== undefined && body.min_tokens !== null) {
    if (!isInt(body.min_tokens) || body.min_tokens < 0) {
      return apiError(
        400,
        `min_tokens must be greater than or equal to 0, got ${body.min_tokens}.`,
        'min_tokens',
      );
    }
    if (knobs.maxTokens !== undefined && body.min_tokens > knobs.maxTokens) {
      return apiError(400, 'min_tokens must be less than or equal to max_tokens.', 'min_tokens');
    }
    knobs.minTokens = body.min_tokens;
  }
  return knobs;
}

export function readMessages(body: Body): ChatMessageLike[] | ApiError {
  const msgs = body.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) {
    return apiError(400, '`messages` must be a non-empty list of chat messages.', 'messages');
  }
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i] as ChatMessageLike | null;
    if (!m || typeof m !== 'object' || typeof m.role !== 'string') {
      return apiError(400, `messages[${i}]: each message needs a string "role".`, 'messages');
    }
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) {
      return apiError(400, `messages[${i}].content must be a string or a list of content parts.`, 'messages');
    }
  }
  return msgs as ChatMessageLike[];
}

/** Tools the model may call: none when tool_choice is "none". */
export function offeredTools(body: Body): unknown[] | null {
  if (!Array.isArray(body.tools) || body.tools.length === 0) return null;
  if (body.tool_choice === 'none') return null;
  return body.tools;
}

/**
 * tool_choice "required" or a named function: vLLM then constrains decoding to a tool call,
 * whatever the model would have said. Returns the tools to choose from, or undefined.
 */
export function forcedTools(body: Body, tools: unknown[] | null): unknown[] | undefined {
  if (!tools) return undefined;
  const tc = body.tool_choice as { type?: unknown; function?: { name?: unknown } } | string | undefined;
  if (tc === 'required') return tools;
  if (tc && typeof tc === 'object' && tc.type === 'function' && typeof tc.function?.name === 'string') {
    const name = tc.function.name;
    const one = tools.filter((t) => (t as { function?: { name?: unknown } })?.function?.name === name);
    return one.length > 0 ? one : undefined;
  }
  return undefined;
}

/** Qwen3's switch: chat_template_kwargs.enable_thinking=false or /no_think in the last user message. */
export function thinkingEnabled(body: Body, messages: readonly ChatMessageLike[]): boolean {
  const kw = body.chat_template_kwargs as { enable_thinking?: unknown } | undefined;
  if (kw && typeof kw === 'object' && kw.enable_thinking === false) return false;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') return !contentText(m.content).includes('/no_think');
  }
  return true;
}

/**
 * Thinking turned off by Qwen3's soft switch (`/no_think` in the last user message) rather than by
 * the template (enable_thinking=false): the model then writes an empty `<think>\n\n</think>\n\n`
 * block itself, where the template puts that block into the prompt and the answer has none.
 */
export function thinkingSoftOff(body: Body, messages: readonly ChatMessageLike[]): boolean {
  const kw = body.chat_template_kwargs as { enable_thinking?: unknown } | undefined;
  if (kw && typeof kw === 'object' && kw.enable_thinking === false) return false;
  return !thinkingEnabled(body, messages);
}

export function readDirective(body: Body): Directive | ApiError | undefined {
  const d = body.servelab_directive;
  if (d === undefined || d === null) return undefined;
  if (typeof d !== 'object' || Array.isArray(d)) {
    return apiError(
      400,
      'servelab_directive must be an object {output_tokens?, tool_calls?, finish_reason?}.',
    );
  }
  const dir = d as Directive;
  if (dir.output_tokens !== undefined && (!isInt(dir.output_tokens) || dir.output_tokens < 1)) {
    return apiError(400, 'servelab_directive.output_tokens must be an integer >= 1.');
  }
  if (dir.tool_calls !== undefined) {
    if (!Array.isArray(dir.tool_calls) || dir.tool_calls.some((t) => !t || typeof t.name !== 'string')) {
      return apiError(400, 'servelab_directive.tool_calls must be a list of {name, arguments}.');
    }
  }
  if (dir.finish_reason !== undefined && typeof dir.finish_reason !== 'string') {
    return apiError(400, 'servelab_directive.finish_reason must be a string.');
  }
  return dir;
}

/** /v1/completions prompts: a string, a list of strings, a token-id list, or a list of those. */
export function readPrompts(body: Body): (string | number[])[] | ApiError {
  const p = body.prompt;
  const bad = apiError(400, '`prompt` must be a string, a list of strings or a list of token ids.', 'prompt');
  if (typeof p === 'string') return [p];
  if (!Array.isArray(p) || p.length === 0) return bad;
  if (p.every((x) => typeof x === 'number')) return [p as number[]];
  const out: (string | number[])[] = [];
  for (const x of p) {
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x) && x.every((y) => typeof y === 'number')) out.push(x as number[]);
    else return bad;
  }
  return out;
}

/**
 * vLLM 0.11's JSON shapes for chat and text completions, streamed chunks and whole bodies, key for
 * key and in pydantic's field order (vllm/entrypoints/openai/protocol.py, serving_chat.py,
 * serving_completion.py):
 * - chat chunks are dumped with `exclude_unset=True`: only the fields the server set. The role
 *   chunk carries `prompt_token_ids: null` (set explicitly), content chunks `token_ids: null` in
 *   the choice, the finish chunk also `stop_reason`; no chunk but the last has `usage`.
 * - completions chunks are dumped with `exclude_unset=False`: every field, so `usage: null` on
 *   each chunk and the choice's `prompt_token_ids` (the prompt's ids in each choice's first
 *   chunk, null after) and `token_ids: null`.
 * - the usage chunk (both APIs) is dumped with `exclude_none=True`: `choices: []` and
 *   `usage: {prompt_tokens, total_tokens, completion_tokens[, prompt_tokens_details]}`.
 * - whole bodies are `model_dump()`: every field, nulls included.
 * servelab's own `servelab` timing object is added only when the request asked for it.
 */

import type { OutputDelta } from '../persona-output.js';
import type { ChoiceFinish, ResponseMeta, ServerTiming, Usage } from '../service.js';

type Obj = Record<string, unknown>;

/** vLLM 0.11's DeltaMessage (role, content, reasoning_content, tool_calls), set fields only */
export function deltaObject(meta: ResponseMeta, d: OutputDelta | undefined): Obj {
  const out: Obj = {};
  if (!d) return out;
  if (d.content !== undefined) out.content = d.content;
  if (d.reasoning !== undefined) out.reasoning_content = d.reasoning;
  if (d.toolCalls && meta.kind === 'chat') {
    // DeltaToolCall fields in order: id, type, index, function
    out.tool_calls = d.toolCalls.map((t) => {
      const fn: Obj = {};
      if (t.name !== undefined) fn.name = t.name;
      if (t.arguments !== undefined) fn.arguments = t.arguments;
      const o: Obj = {};
      if (t.id !== undefined) {
        o.id = t.id;
        o.type = 'function';
      }
      o.index = t.index;
      o.function = fn;
      return o;
    });
  }
  return out;
}

function textOf(d: OutputDelta | undefined): string {
  return (d?.reasoning ?? '') + (d?.content ?? '');
}

function objectName(meta: ResponseMeta): string {
  return meta.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
}

/**
 * One SSE chunk for a choice: a delta, optionally with finish_reason. `firstOfChoice` (completions
 * only): the choice's first chunk, which carries the prompt's token ids in vLLM 0.11.
 */
export function streamChunk(
  meta: ResponseMeta,
  choice: number,
  d: OutputDelta | undefined,
  fin?: ChoiceFinish,
  firstOfChoice = false,
): Obj {
  let c: Obj;
  if (meta.kind === 'chat') {
    c = {
      index: choice,
      delta: deltaObject(meta, d),
      logprobs: null,
      finish_reason: fin?.finishReason ?? null,
    };
    if (fin) c.stop_reason = fin.stopReason;
    c.token_ids = null;
  } else {
    c = {
      index: choice,
      text: textOf(d),
      logprobs: null,
      finish_reason: fin?.finishReason ?? null,
      stop_reason: fin ? fin.stopReason : null,
      prompt_token_ids: firstOfChoice ? Array.from(meta.promptTokenIds[choice] ?? []) : null,
      token_ids: null,
    };
  }
  const o: Obj = {
    id: meta.id,
    object: objectName(meta),
    created: meta.created,
    model: meta.model,
    choices: [c],
  };
  if (meta.kind === 'completion') o.usage = null;
  return o;
}

/** chat only: the first chunk of each choice, sent with the first token (vLLM's `first_iteration`) */
export function roleChunk(meta: ResponseMeta, choice: number): Obj {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [
      { index: choice, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
    ],
    prompt_token_ids: null,
  };
}

export function usageChunk(meta: ResponseMeta, usage: Usage, timing: ServerTiming): Obj {
  const o: Obj = {
    id: meta.id,
    object: objectName(meta),
    created: meta.created,
    model: meta.model,
    choices: [],
    usage,
  };
  if (meta.timing) o.servelab = timing;
  return o;
}

export function fullBody(
  meta: ResponseMeta,
  finishes: ChoiceFinish[],
  usage: Usage,
  timing: ServerTiming,
): Obj {
  const fullUsage = { ...usage, prompt_tokens_details: usage.prompt_tokens_details ?? null };
  if (meta.kind === 'completion') {
    const choices = finishes.map((f, i) => ({
      index: i,
      text: (f.output.reasoning ?? '') + (f.output.content ?? ''),
      logprobs: null,
      finish_reason: f.finishReason,
      stop_reason: f.stopReason,
      prompt_logprobs: null,
      prompt_token_ids: null,
      token_ids: null,
    }));
    const o: Obj = {
      id: meta.id,
      object: 'text_completion',
      created: meta.created,
      model: meta.model,
      choices,
      service_tier: null,
      system_fingerprint: null,
      usage: fullUsage,
      kv_transfer_params: null,
    };
    if (meta.timing) o.servelab = timing;
    return o;
  }
  const choices = finishes.map((f, i) => {
    const out = f.output;
    return {
      index: i,
      message: {
        role: 'assistant',
        content: out.content,
        refusal: null,
        annotations: null,
        audio: null,
        function_call: null,
        tool_calls: out.toolCalls.map((t) => ({
          id: t.id,
          type: 'function',
          function: { name: t.name, arguments: t.arguments },
        })),
        reasoning_content: out.reasoning,
      },
      logprobs: null,
      finish_reason: f.finishReason,
      stop_reason: f.stopReason,
      token_ids: null,
    };
  });
  const o: Obj = {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices,
    service_tier: null,
    system_fingerprint: null,
    usage: fullUsage,
    prompt_logprobs: null,
    prompt_token_ids: null,
    kv_transfer_params: null,
  };
  if (meta.timing) o.servelab = timing;
  return o;
}

/**
 * The SSE line of a delta chunk without building an object: the hot path of 2,000 streams is one
 * of these per request per engine step. Same bytes as `data: ${JSON.stringify(streamChunk(...))}`
 * (a completions choice's first chunk, with the prompt ids, goes through streamChunk).
 */
export function deltaLineFactory(meta: ResponseMeta, choice: number): (d: OutputDelta) => string {
  const head = `data: {"id":${JSON.stringify(meta.id)},"object":"${objectName(meta)}","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":[{"index":${choice},`;
  const tail =
    meta.kind === 'chat'
      ? ',"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n'
      : ',"logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,"token_ids":null}],"usage":null}\n\n';
  return (d) => {
    if (meta.kind === 'completion') return `${head}"text":${JSON.stringify(textOf(d))}${tail}`;
    if (d.reasoning === undefined && d.toolCalls === undefined && d.content !== undefined) {
      return `${head}"delta":{"content":${JSON.stringify(d.content)}}${tail}`;
    }
    return `data: ${JSON.stringify(streamChunk(meta, choice, d))}\n\n`;
  };
}

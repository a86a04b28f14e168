/** vLLM's JSON shapes for chat and text completions, streamed chunks and whole bodies. */

import type { OutputDelta } from '../persona-output.js';
import type { ChoiceFinish, ResponseMeta, ServerTiming, Usage } from '../service.js';

type Obj = Record<string, unknown>;

export function deltaObject(meta: ResponseMeta, d: OutputDelta | undefined): Obj {
  const out: Obj = {};
  if (!d) return out;
  if (d.reasoning !== undefined) {
    out.reasoning_content = d.reasoning;
    out.reasoning = d.reasoning;
  }
  if (d.content !== undefined) out.content = d.content;
  if (d.toolCalls && meta.kind === 'chat') {
    out.tool_calls = d.toolCalls.map((t) => {
      const fn: Obj = {};
      if (t.name !== undefined) fn.name = t.name;
      if (t.arguments !== undefined) fn.arguments = t.arguments;
      const o: Obj = { index: t.index };
      if (t.id !== undefined) {
        o.id = t.id;
        o.type = 'function';
      }
      o.function = fn;
      return o;
    });
  }
  return out;
}

function textOf(d: OutputDelta | undefined): string {
  return (d?.reasoning ?? '') + (d?.content ?? '');
}

/** one SSE chunk for a choice: a delta, optionally with finish_reason */
export function streamChunk(
  meta: ResponseMeta,
  choice: number,
  d: OutputDelta | undefined,
  fin?: ChoiceFinish,
): Obj {
  const c: Obj =
    meta.kind === 'chat'
      ? {
          index: choice,
          delta: deltaObject(meta, d),
          logprobs: null,
          finish_reason: fin?.finishReason ?? null,
        }
      : { index: choice, text: textOf(d), logprobs: null, finish_reason: fin?.finishReason ?? null };
  if (fin) c.stop_reason = fin.stopReason;
  else if (meta.kind === 'completion') c.stop_reason = null;
  const o: Obj = {
    id: meta.id,
    object: meta.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: [c],
  };
  if (meta.includeUsage) o.usage = null;
  return o;
}

export function roleChunk(meta: ResponseMeta, choice: number): Obj {
  const o: Obj = {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [
      { index: choice, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
    ],
  };
  if (meta.includeUsage) o.usage = null;
  return o;
}

export function usageChunk(meta: ResponseMeta, usage: Usage, timing: ServerTiming): Obj {
  return {
    id: meta.id,
    object: meta.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: [],
    usage,
    servelab: timing,
  };
}

export function fullBody(
  meta: ResponseMeta,
  finishes: ChoiceFinish[],
  usage: Usage,
  timing: ServerTiming,
): Obj {
  const choices = finishes.map((f, i) => {
    const out = f.output;
    if (meta.kind === 'completion') {
      return {
        index: i,
        text: (out.reasoning ?? '') + (out.content ?? ''),
        logprobs: null,
        finish_reason: f.finishReason,
        stop_reason: f.stopReason,
        prompt_logprobs: null,
      };
    }
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
        reasoning: out.reasoning,
      },
      logprobs: null,
      finish_reason: f.finishReason,
      stop_reason: f.stopReason,
    };
  });
  return {
    id: meta.id,
    object: meta.kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: meta.created,
    model: meta.model,
    choices,
    service_tier: null,
    system_fingerprint: null,
    usage,
    prompt_logprobs: null,
    kv_transfer_params: null,
    servelab: timing,
  };
}

/**
 * The SSE line of a delta chunk without building an object: the hot path of 2,000 streams is one
 * of these per request per engine step. Same bytes as `data: ${JSON.stringify(streamChunk(...))}`.
 */
export function deltaLineFactory(meta: ResponseMeta, choice: number): (d: OutputDelta) => string {
  const head = `data: {"id":${JSON.stringify(meta.id)},"object":${meta.kind === 'chat' ? '"chat.completion.chunk"' : '"text_completion"'},"created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":[{"index":${choice},`;
  const tail =
    meta.kind === 'chat'
      ? `,"logprobs":null,"finish_reason":null}]${meta.includeUsage ? ',"usage":null' : ''}}\n\n`
      : `,"logprobs":null,"finish_reason":null,"stop_reason":null}]${meta.includeUsage ? ',"usage":null' : ''}}\n\n`;
  return (d) => {
    if (meta.kind === 'completion') return `${head}"text":${JSON.stringify(textOf(d))}${tail}`;
    if (d.reasoning === undefined && d.toolCalls === undefined && d.content !== undefined) {
      return `${head}"delta":{"content":${JSON.stringify(d.content)}}${tail}`;
    }
    return `data: ${JSON.stringify(streamChunk(meta, choice, d))}\n\n`;
  };
}

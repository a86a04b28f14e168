import type { Quirk, ToolCall } from '../loadgen/transport.js';

export interface RawAnswer {
  /** content as received (may hold a <think> block); '' when the server sent none */
  content: string;
  /** true when the server never sent non-null content (gpt-oss style) */
  contentNull: boolean;
  /** text from reasoning_content / reasoning fields */
  reasoningField: string;
  toolCalls: ToolCall[];
  finishReason?: string;
}

export interface NormalisedAnswer {
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  finishReason?: string;
  quirks: Quirk[];
}

const TOOL_TEXT_RE = /<tool_call>|<\|tool_call|\[TOOL_CALLS\]|<function=|<\|python_tag\|>/;

/**
 * Splits reasoning from the answer and flags the quirks of WORKFLOWS.md W1. A `<think>` block in
 * content is moved to reasoning; so is text before a lone `</think>` (templates that open the
 * block in the prompt). A `<think>` never closed means the model stopped while thinking.
 */
export function normaliseAnswer(raw: RawAnswer): NormalisedAnswer {
  const quirks: Quirk[] = [];
  let text = raw.content;
  let reasoning = raw.reasoningField;
  const open = text.indexOf('<think>');
  const close = text.indexOf('</think>');
  if (open !== -1 || close !== -1) {
    quirks.push('think_in_content');
    if (open !== -1 && (close === -1 || close < open)) {
      // opened, never closed: everything after <think> is reasoning
      const thought = text.slice(open + 7);
      text = text.slice(0, open);
      reasoning = joinReasoning(reasoning, thought);
      if (raw.finishReason === 'length') quirks.push('length_cut_inside_think');
    } else {
      const start = open === -1 ? 0 : open + 7;
      const thought = text.slice(start, close);
      text = text.slice(0, open === -1 ? 0 : open) + text.slice(close + 8);
      reasoning = joinReasoning(reasoning, thought);
    }
    text = text.replace(/^\s+/, '');
  }
  if (raw.contentNull && raw.reasoningField.length > 0) quirks.push('content_null_with_reasoning');
  if (raw.toolCalls.length === 0 && TOOL_TEXT_RE.test(text)) quirks.push('tool_call_as_text');
  return {
    text,
    reasoning,
    toolCalls: raw.toolCalls,
    ...(raw.finishReason !== undefined ? { finishReason: raw.finishReason } : {}),
    quirks,
  };
}

function joinReasoning(a: string, b: string): string {
  const t = b.trim();
  if (!a) return t;
  return t ? `${a}\n${t}` : a;
}

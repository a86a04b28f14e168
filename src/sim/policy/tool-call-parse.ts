/**
 * How the Continuum fork (Hanchenli/vllm-continuum, vllm/v1/core/estimate_with_func.py) names
 * the tool a finished call asked for, when the client did not send `this_func_call`:
 * - `bashOnly` (the fork before its 2026-01-13 change): the mini-swe-agent parser, exactly one
 *   ```bash block, its first word; anything else is null. The old code also OVERWROTE the
 *   client's `this_func_call` with this result, so hermes `<tool_call>` outputs named nothing
 *   and nothing was ever pinned.
 * - `hermes` (after the change): the client's `this_func_call` when non-empty; else hermes
 *   `<tool_call>{json}</tool_call>` blocks (two or more valid ones: "multi_tool"; `call_expert`
 *   with an `expert` argument: that expert's name); else a whole-output Llama-3 JSON call
 *   `{"name", "parameters"}`; else the bash parser; else "user_turn" (a message to the user).
 *   Empty output names nothing (null).
 */

export type ToolCallParser = 'hermes' | 'bashOnly';

/** the mini-swe-agent rule: exactly one ```bash block -> its first word */
export function parseBashBlock(text: string): string | null {
  const re = /```bash\s*\n([\s\S]*?)\n```/g;
  const found: string[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) found.push(m[1]!);
  if (found.length !== 1) return null;
  const words = found[0]!.trim().split(/\s+/);
  return words[0] ? words[0] : null;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** a call's name, call_expert mapped to its expert argument */
function callName(name: unknown, args: unknown): string | null {
  if (typeof args === 'string') {
    const parsed = parseJson(args);
    if (parsed !== undefined) args = parsed;
  }
  if (name === 'call_expert' && isRecord(args)) {
    const e = args.expert;
    return typeof e === 'string' && e.trim() !== '' ? e.trim() : 'call_expert';
  }
  return typeof name === 'string' && name.trim() !== '' ? name.trim() : null;
}

/** hermes tool calls, then a Llama-3 JSON call, then a bash block, else "user_turn" */
export function parseHermesToolCall(text: string): string | null {
  if (text === '') return null;
  let name: string | null = null;
  if (text.includes('<tool_call>')) {
    // as the fork's regex: closed blocks, or an unclosed one running to the end of the text
    const re = /<tool_call>([\s\S]*?)<\/tool_call>|<tool_call>([\s\S]*)/g;
    const calls: Record<string, unknown>[] = [];
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const payload = (m[1] ? m[1] : (m[2] ?? '')).trim();
      if (payload === '') continue;
      const v = parseJson(payload);
      if (v !== undefined) calls.push(v as Record<string, unknown>);
    }
    if (calls.length > 1) name = 'multi_tool';
    else if (calls.length === 1 && isRecord(calls[0])) name = callName(calls[0].name, calls[0].arguments);
  }
  if (name === null) {
    const s = text.trim();
    if (s.startsWith('{') && s.endsWith('}')) {
      const v = parseJson(s);
      if (isRecord(v)) name = callName(v.name, v.parameters);
    }
  }
  if (name === null) name = parseBashBlock(text);
  return name ?? 'user_turn';
}

/**
 * The `this_func_call` the fork settles on when a call finishes: the client's field (hermes
 * parser only), else the parse of the generated text.
 */
export function resolveFuncCall(
  parser: ToolCallParser,
  clientField: string | undefined,
  outputText: string | undefined,
): string | null {
  if (parser === 'bashOnly') return parseBashBlock(outputText ?? '');
  if (clientField !== undefined && clientField.trim() !== '') return clientField.trim();
  return parseHermesToolCall(outputText ?? '');
}

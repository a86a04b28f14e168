import type { ToolCall, Usage } from '../loadgen/transport.js';

/**
 * What a streamed response has delivered so far. Updated once per SSE event on the hot path:
 * only pushes and comparisons here, the text is joined and normalised at the end.
 */
export interface StreamState {
  firstChunkMs?: number;
  firstTokenMs?: number;
  lastTokenMs?: number;
  chunkMs: number[];
  contentParts: string[];
  reasoningParts: string[];
  tools: Map<number, ToolCall>;
  finishReason?: string;
  usage?: Usage;
  serverFirstTokenMs?: number;
  done: boolean;
}

export function newStreamState(): StreamState {
  return { chunkMs: [], contentParts: [], reasoningParts: [], tools: new Map(), done: false };
}

type Obj = Record<string, unknown>;

/** Reads usage in OpenAI shape; undefined when absent or null. */
export function readUsage(u: unknown): Usage | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const o = u as Obj;
  const p = Number(o.prompt_tokens);
  const c = Number(o.completion_tokens ?? 0);
  if (!Number.isFinite(p)) return undefined;
  const usage: Usage = { promptTokens: p, completionTokens: Number.isFinite(c) ? c : 0 };
  const details = o.prompt_tokens_details as Obj | null | undefined;
  const cached = details ? Number(details.cached_tokens) : Number.NaN;
  if (Number.isFinite(cached)) usage.cachedTokens = cached;
  return usage;
}

/** The simulator's own timing, sent as a top-level `servelab: {first_token_ms, arrival_ms}`. */
export function readServerFirstTokenMs(obj: Obj): number | undefined {
  const s = obj.servelab as Obj | undefined;
  if (!s || typeof s !== 'object') return undefined;
  const t = Number(s.first_token_ms);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Applies one parsed chunk received at tMs. Returns false when the chunk does not have the
 * shape of a completion chunk (caller reports it as malformed).
 */
export function applyChunk(st: StreamState, obj: Obj, tMs: number): boolean {
  if (st.firstChunkMs === undefined) st.firstChunkMs = tMs;
  const choices = obj.choices;
  if (obj.usage) {
    const u = readUsage(obj.usage);
    if (u) st.usage = u;
  }
  if (obj.servelab !== undefined) {
    const s = readServerFirstTokenMs(obj);
    if (s !== undefined) st.serverFirstTokenMs = s;
  }
  if (choices === undefined || choices === null) return obj.usage !== undefined || obj.servelab !== undefined;
  if (!Array.isArray(choices)) return false;
  let bearing = false;
  for (let i = 0; i < choices.length; i++) {
    const ch = choices[i] as Obj;
    if (!ch || typeof ch !== 'object') return false;
    const delta = ch.delta as Obj | undefined;
    if (delta && typeof delta === 'object') {
      const content = delta.content;
      if (typeof content === 'string') {
        if (content.length > 0) {
          st.contentParts.push(content);
          bearing = true;
        }
      }
      const rc = delta.reasoning_content ?? delta.reasoning;
      if (typeof rc === 'string' && rc.length > 0) {
        st.reasoningParts.push(rc);
        bearing = true;
      }
      const tcs = delta.tool_calls;
      if (Array.isArray(tcs) && tcs.length > 0) {
        bearing = true;
        for (const tc of tcs as Obj[]) mergeToolCall(st.tools, tc);
      }
    } else if (typeof ch.text === 'string') {
      // completions API
      if (ch.text.length > 0) {
        st.contentParts.push(ch.text);
        bearing = true;
      }
    }
    const fr = ch.finish_reason;
    if (typeof fr === 'string') st.finishReason = fr;
  }
  if (bearing) {
    if (st.firstTokenMs === undefined) st.firstTokenMs = tMs;
    st.lastTokenMs = tMs;
    st.chunkMs.push(tMs);
  }
  return true;
}

/** Tool calls stream as fragments keyed by index: id/name first, then argument pieces. */
function mergeToolCall(tools: Map<number, ToolCall>, frag: Obj): void {
  const index = typeof frag.index === 'number' ? frag.index : tools.size;
  let tc = tools.get(index);
  if (!tc) {
    tc = { id: '', type: 'function', function: { name: '', arguments: '' } };
    tools.set(index, tc);
  }
  if (typeof frag.id === 'string' && frag.id) tc.id = frag.id;
  const fn = frag.function as Obj | undefined;
  if (fn) {
    if (typeof fn.name === 'string') tc.function.name += fn.name;
    if (typeof fn.arguments === 'string') tc.function.arguments += fn.arguments;
  }
}

export function toolCallsInOrder(tools: Map<number, ToolCall>): ToolCall[] {
  return [...tools.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

const DELTA_CONTENT = '"delta":{"content":"';

/**
 * The hot path of every streamed token: a chunk whose only choice has a delta of just
 * `content` (a string), `finish_reason: null` and no usage is read without JSON.parse, which
 * is most of a client's CPU per event. Returns false for anything else (the caller parses it):
 * role / reasoning / tool-call deltas, several choices, finish reasons, usage, errors, or a
 * chunk that does not look like one whole JSON object.
 */
export function applyFastContent(st: StreamState, data: string, tMs: number): boolean {
  const n = data.length;
  if (n < 40 || data.charCodeAt(0) !== 123 || data.charCodeAt(n - 1) !== 125) return false;
  const k = data.indexOf(DELTA_CONTENT);
  if (k < 0) return false;
  const s = k + DELTA_CONTENT.length;
  let e = data.indexOf('"', s);
  let escaped = false;
  while (e > 0 && data.charCodeAt(e - 1) === 92) {
    // a quote preceded by backslashes: escaped when their count is odd
    let b = e - 1;
    while (b >= s && data.charCodeAt(b) === 92) b--;
    if ((e - 1 - b) % 2 === 0) break;
    escaped = true;
    e = data.indexOf('"', e + 1);
  }
  if (e < 0 || data.charCodeAt(e + 1) !== 125) return false;
  const rest = e + 2;
  if (data.indexOf('"finish_reason":null', rest) < 0) return false;
  // usage / servelab come after choices (OpenAI, vLLM, SGLang order); only the tail is scanned
  if (
    data.indexOf('"delta"', rest) >= 0 ||
    data.indexOf('"usage":{', rest) >= 0 ||
    data.indexOf('"servelab"', rest) >= 0
  )
    return false;
  let content: string;
  const bs = escaped ? s : data.indexOf('\\', s);
  if (bs !== -1 && bs < e) {
    try {
      content = JSON.parse(data.slice(s - 1, e + 1)) as string;
    } catch {
      return false;
    }
  } else content = data.slice(s, e);
  if (st.firstChunkMs === undefined) st.firstChunkMs = tMs;
  if (content.length > 0) {
    st.contentParts.push(content);
    if (st.firstTokenMs === undefined) st.firstTokenMs = tMs;
    st.lastTokenMs = tMs;
    st.chunkMs.push(tMs);
  }
  return true;
}

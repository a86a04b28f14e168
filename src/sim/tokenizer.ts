/**
 * The simulator's deterministic tokenizer: one token per word (`\w+`) or punctuation mark,
 * id = a stable 32-bit hash of the piece. A chat template adds a few special tokens per message
 * (ChatML-like: `<|im_start|>role ... <|im_end|>`), tool schemas are counted when offered.
 * Agent prompts of ~20k tokens are re-sent on every call, so encodings are cached per string
 * (LRU, bounded by total tokens).
 */

const PIECE_RE = /\w+|[^\w\s]/g;

/** special token ids (hash ids are >= 1024 so they never collide with these) */
export const SPECIAL = {
  imStart: 1,
  imEnd: 2,
  toolsStart: 3,
  toolsEnd: 4,
  toolCall: 5,
  toolResponse: 6,
} as const;

/** FNV-1a over UTF-16 code units, folded above the special range. */
export function pieceId(piece: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < piece.length; i++) {
    h ^= piece.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) % 0x7ffffc00) + 1024;
}

/** the cache holds at most this many tokens in all (4 bytes each: 32 MiB) */
const CACHE_MAX_TOKENS = 8 * 1024 * 1024;
const MIN_CACHED_LEN = 64;
const cache = new Map<string, Uint32Array>();
let cachedTokens = 0;

function encodeUncached(text: string): number[] {
  const out: number[] = [];
  PIECE_RE.lastIndex = 0;
  for (let m = PIECE_RE.exec(text); m !== null; m = PIECE_RE.exec(text)) out.push(pieceId(m[0]));
  return out;
}

/** Token ids of a plain text (no template). Long strings are cached (bounded, oldest dropped). */
export function encodeText(text: string): ArrayLike<number> {
  if (text.length < MIN_CACHED_LEN) return encodeUncached(text);
  const hit = cache.get(text);
  if (hit) {
    // least recently used goes first: a hit moves to the back
    cache.delete(text);
    cache.set(text, hit);
    return hit;
  }
  const ids = Uint32Array.from(encodeUncached(text));
  if (ids.length > CACHE_MAX_TOKENS / 4) return ids;
  while (cachedTokens + ids.length > CACHE_MAX_TOKENS && cache.size > 0) {
    const [oldest, v] = cache.entries().next().value as [string, Uint32Array];
    cache.delete(oldest);
    cachedTokens -= v.length;
  }
  cache.set(text, ids);
  cachedTokens += ids.length;
  return ids;
}

/** Number of tokens of a plain text. */
export function countTokens(text: string): number {
  if (text.length >= MIN_CACHED_LEN) return encodeText(text).length;
  let n = 0;
  PIECE_RE.lastIndex = 0;
  while (PIECE_RE.exec(text) !== null) n++;
  return n;
}

/** Splits text into token pieces whose concatenation is the text (whitespace kept in front). */
export function splitPieces(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  PIECE_RE.lastIndex = 0;
  for (let m = PIECE_RE.exec(text); m !== null; m = PIECE_RE.exec(text)) {
    const end = m.index + m[0].length;
    out.push(text.slice(last, end));
    last = end;
  }
  if (last < text.length) {
    if (out.length > 0) out[out.length - 1] += text.slice(last);
    else out.push(text.slice(last));
  }
  return out;
}

/** The parts of an OpenAI chat message the template reads. */
export interface ChatMessageLike {
  role: string;
  content?: unknown;
  tool_calls?: unknown;
  name?: unknown;
  tool_call_id?: unknown;
}

/** Text of a message's content: a string, or the text parts of a list; null/absent -> ''. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const part of content) {
    if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      s += (part as { text: string }).text;
    }
  }
  return s;
}

const jsonCache = new WeakMap<object, ArrayLike<number>>();

/** tokens of a JSON value, cached per object (tool lists are re-sent on every agent call) */
function encodeJson(value: unknown): ArrayLike<number> {
  if (value && typeof value === 'object') {
    const hit = jsonCache.get(value);
    if (hit) return hit;
    const ids = encodeText(JSON.stringify(value));
    jsonCache.set(value, ids);
    return ids;
  }
  return encodeText(JSON.stringify(value) ?? '');
}

function pushAll(out: number[], ids: ArrayLike<number>): void {
  for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
}

/**
 * An assistant tool call as hermes templates render it:
 * `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>` (the same tokens the
 * orchestrator persona generates, so a re-sent tool call hits its cached output blocks).
 */
function encodeToolCall(tc: unknown): ArrayLike<number> {
  const fn = (tc as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
  if (!fn || typeof fn !== 'object') return encodeJson(tc);
  const name = typeof fn.name === 'string' ? fn.name : '';
  const args = typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {});
  return encodeText(`<tool_call>\n{"name": ${JSON.stringify(name)}, "arguments": ${args}}\n</tool_call>`);
}

const ROLE_IDS = new Map<string, number>();
function roleId(role: string): number {
  let id = ROLE_IDS.get(role);
  if (id === undefined) {
    id = pieceId(role);
    ROLE_IDS.set(role, id);
  }
  return id;
}

/** Fixed preamble of the tools block, like hermes templates ("# Tools ... <tools>"). */
const TOOLS_PREAMBLE = encodeUncached(
  '# Tools\nYou may call one or more functions to assist with the user query. You are provided with ' +
    'function signatures within <tools></tools> XML tags:',
);

/**
 * Prompt token ids after the chat template: per message `<|im_start|> role content <|im_end|>`
 * (3 tokens of overhead), assistant tool calls as their JSON, offered tools as a system block,
 * and the generation prompt `<|im_start|> assistant` at the end.
 */
export function encodeChat(
  messages: readonly ChatMessageLike[],
  tools?: readonly unknown[] | null,
): number[] {
  const out: number[] = [];
  if (tools && tools.length > 0) {
    out.push(SPECIAL.imStart, roleId('system'));
    pushAll(out, TOOLS_PREAMBLE);
    out.push(SPECIAL.toolsStart);
    for (const t of tools) pushAll(out, encodeJson(t));
    out.push(SPECIAL.toolsEnd, SPECIAL.imEnd);
  }
  for (const m of messages) {
    out.push(SPECIAL.imStart, roleId(m.role));
    if (m.role === 'tool') out.push(SPECIAL.toolResponse);
    pushAll(out, encodeText(contentText(m.content)));
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) pushAll(out, encodeToolCall(tc));
    }
    out.push(SPECIAL.imEnd);
  }
  out.push(SPECIAL.imStart, roleId('assistant'));
  return out;
}

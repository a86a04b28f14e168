/**
 * The simulator's deterministic tokenizer: one token per word (`\w+`) or punctuation mark,
 * id = a stable 32-bit hash of the piece. A chat template adds a few special tokens per message
 * (ChatML-like: `<|im_start|>role ... <|im_end|>`), tool schemas are counted when offered.
 * Agent prompts of ~20k tokens are re-sent on every call, so encodings are cached per string
 * (LRU, bounded by total tokens); callers in process (virtual time) also get each message's ids
 * and its prefix's block hashes remembered per message object (encodeChatPrefixed,
 * prefixBlockHashes), so a call encodes and hashes only the messages new since the last one.
 */

import { messageMemoOn } from '../memo.js';
import { ROOT_HASH } from './block-hash.js';
import { hashPromptBlock, type PromptIds, PromptParts } from './prompt-parts.js';

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

/** `\w` of a RegExp without the u flag: [A-Za-z0-9_] */
function isWordUnit(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** `\s` of a RegExp without the u flag (WhiteSpace and LineTerminator), per UTF-16 code unit */
export function isSpaceUnit(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * The ids of PIECE_RE's matches (a run of word units, or one unit that is neither word nor
 * space), each pieceId of its text, read off the code units without match objects or slices.
 */
function encodeUncached(text: string): number[] {
  const out: number[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    if (isWordUnit(c)) {
      let h = 0x811c9dc5;
      do {
        h ^= c;
        h = Math.imul(h, 0x01000193);
        i++;
        c = i < n ? text.charCodeAt(i) : -1;
      } while (i < n && isWordUnit(c));
      out.push(((h >>> 0) % 0x7ffffc00) + 1024);
    } else {
      i++;
      if (isSpaceUnit(c)) continue;
      out.push(((Math.imul(0x811c9dc5 ^ c, 0x01000193) >>> 0) % 0x7ffffc00) + 1024);
    }
  }
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
 * A prompt prefix, as the per-message memo follows it: every prompt put together through this
 * node has the same token ids [0, end) (the same tools block, then the same message encodings
 * in the same order). Each node remembers the prefix-cache block hashes of the blocks that end
 * in its own part (parent.end, end], so a prompt's hashes are its nodes' hashes put together.
 */
export interface PrefixNode {
  readonly parent: PrefixNode | undefined;
  readonly end: number;
  /** block size of `hashes` */
  bs: number;
  hashes: number[] | undefined;
}

const EMPTY_PREFIX: PrefixNode = { parent: undefined, end: 0, bs: 0, hashes: undefined };

/**
 * One message's template tokens, remembered per message object: an agent re-sends its whole
 * conversation (the same objects, in process) on every call, so a call only encodes the
 * messages that are new since the previous one. The entry keeps what it was computed from and
 * is used only while the object still holds exactly that (role, content string, tool calls'
 * names and arguments), so a message changed in place is encoded again (with new prefix nodes).
 */
interface MessageEnc {
  role: string;
  content: unknown;
  toolCalls: unknown;
  /** each tool call's function name and arguments as encoded (strings compared on reuse) */
  calls: unknown[];
  ids: Uint32Array;
  /** the prefix node this message ends, per prefix it followed (a few: the same message is sent to the orchestrator and in an expert's view) */
  links: { prev: PrefixNode; node: PrefixNode }[];
}
const messageCache = new WeakMap<object, MessageEnc>();
const MAX_LINKS = 4;

function callParts(toolCalls: unknown): unknown[] | undefined {
  if (toolCalls === undefined || toolCalls === null) return [];
  if (!Array.isArray(toolCalls)) return [];
  const out: unknown[] = [];
  for (const tc of toolCalls) {
    const fn = (tc as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
    // a tool call without a function object is encoded as its JSON: not remembered here
    if (!fn || typeof fn !== 'object') return undefined;
    if (typeof fn.arguments !== 'string' && fn.arguments !== undefined) return undefined;
    out.push(tc, fn, fn.name, fn.arguments);
  }
  return out;
}

function sameCalls(toolCalls: unknown, calls: unknown[]): boolean {
  if (!Array.isArray(toolCalls)) return calls.length === 0;
  if (toolCalls.length * 4 !== calls.length) return false;
  for (let i = 0; i < toolCalls.length; i++) {
    const tc = toolCalls[i] as { function?: { name?: unknown; arguments?: unknown } } | null;
    const fn = tc?.function;
    if (tc !== calls[4 * i] || fn !== calls[4 * i + 1]) return false;
    if (!fn || fn.name !== calls[4 * i + 2] || fn.arguments !== calls[4 * i + 3]) return false;
  }
  return true;
}

function encodeMessageInto(out: number[], m: ChatMessageLike): void {
  out.push(SPECIAL.imStart, roleId(m.role));
  if (m.role === 'tool') out.push(SPECIAL.toolResponse);
  pushAll(out, encodeText(contentText(m.content)));
  if (Array.isArray(m.tool_calls)) {
    for (const tc of m.tool_calls) pushAll(out, encodeToolCall(tc));
  }
  out.push(SPECIAL.imEnd);
}

/** the message's remembered encoding, or a new one (remembered unless its content is a list of parts) */
function messageEnc(m: ChatMessageLike): MessageEnc {
  const hit = messageCache.get(m);
  if (
    hit &&
    hit.role === m.role &&
    hit.content === m.content &&
    hit.toolCalls === m.tool_calls &&
    sameCalls(m.tool_calls, hit.calls)
  )
    return hit;
  const tmp: number[] = [];
  encodeMessageInto(tmp, m);
  const ids = Uint32Array.from(tmp);
  // content parts (a list) may change in place unseen: only string (or absent) content is kept
  const calls = callParts(m.tool_calls);
  const c = m.content;
  const enc: MessageEnc = {
    role: m.role,
    content: c,
    toolCalls: m.tool_calls,
    calls: calls ?? [],
    ids,
    links: [],
  };
  if (calls && (c === undefined || c === null || typeof c === 'string')) messageCache.set(m, enc);
  return enc;
}

/** the node a message ends after prefix `prev` (the same node every time it follows that prefix) */
function nodeAfter(enc: MessageEnc, prev: PrefixNode): PrefixNode {
  const links = enc.links;
  for (let i = 0; i < links.length; i++) if (links[i]!.prev === prev) return links[i]!.node;
  const node: PrefixNode = { parent: prev, end: prev.end + enc.ids.length, bs: 0, hashes: undefined };
  if (links.length >= MAX_LINKS) links.shift();
  links.push({ prev, node });
  return node;
}

/** the offered tools' block, remembered per tools list (the same list is offered on every call) */
const toolsCache = new WeakMap<object, { items: unknown[]; ids: Uint32Array; node: PrefixNode }>();

function toolsEnc(tools: readonly unknown[]): { ids: Uint32Array; node: PrefixNode } {
  const hit = toolsCache.get(tools);
  if (hit && hit.items.length === tools.length && hit.items.every((t, i) => t === tools[i])) return hit;
  const tmp: number[] = [];
  tmp.push(SPECIAL.imStart, roleId('system'));
  pushAll(tmp, TOOLS_PREAMBLE);
  tmp.push(SPECIAL.toolsStart);
  for (const t of tools) pushAll(tmp, encodeJson(t));
  tmp.push(SPECIAL.toolsEnd, SPECIAL.imEnd);
  const ids = Uint32Array.from(tmp);
  const enc = {
    items: [...tools],
    ids,
    node: { parent: undefined, end: ids.length, bs: 0, hashes: undefined },
  };
  toolsCache.set(tools, enc);
  return enc;
}

/**
 * Prompt token ids after the chat template: per message `<|im_start|> role content <|im_end|>`
 * (3 tokens of overhead), assistant tool calls as their JSON, offered tools as a system block,
 * and the generation prompt `<|im_start|> assistant` at the end. `perMessage` (for callers in
 * process that re-send the same message objects; see encodeChatPrefixed) gives the same ids.
 */
export function encodeChat(
  messages: readonly ChatMessageLike[],
  tools?: readonly unknown[] | null,
  opts: { perMessage?: boolean } = {},
): number[] | Uint32Array {
  if (!opts.perMessage) return encodeChatPlain(messages, tools);
  const ids = encodeChatPrefixed(messages, tools).ids;
  return ids instanceof PromptParts ? ids.toArray() : ids;
}

/** the generation prompt `<|im_start|> assistant`, the last part of every prompt */
const GEN_PROMPT = Uint32Array.of(SPECIAL.imStart, roleId('assistant'));

/**
 * encodeChat with the per-message memo (src/memo.ts; off, this is encodeChat): the ids as the
 * parts they are made of (each message's remembered ids, read in place: prompt-parts.ts), and
 * the prompt's prefix node (the tokens before the generation prompt) for prefixBlockHashes.
 */
export function encodeChatPrefixed(
  messages: readonly ChatMessageLike[],
  tools?: readonly unknown[] | null,
): { ids: number[] | PromptParts; prefix: PrefixNode | undefined } {
  if (!messageMemoOn()) return { ids: encodeChatPlain(messages, tools), prefix: undefined };
  const parts: Uint32Array[] = [];
  let node = EMPTY_PREFIX;
  if (tools && tools.length > 0) {
    const t = toolsEnc(tools);
    parts.push(t.ids);
    node = t.node;
  }
  for (const m of messages) {
    const enc = messageEnc(m);
    parts.push(enc.ids);
    node = nodeAfter(enc, node);
  }
  parts.push(GEN_PROMPT);
  return { ids: new PromptParts(parts), prefix: node };
}

/**
 * The prefix-cache block hashes (block-hash.ts, as the engine chains them) of the full blocks of
 * the prefix `node` ends, block size `bs`; `ids` are a prompt's ids that start with that prefix.
 * A node's own hashes are computed once per block size and then reused by every prompt through
 * it, so a call hashes only the blocks its new messages complete.
 */
export function prefixBlockHashes(node: PrefixNode, ids: PromptIds, bs: number): number[] {
  const chain: PrefixNode[] = [];
  for (let n: PrefixNode | undefined = node; n; n = n.parent) chain.push(n);
  const out: number[] = [];
  for (let c = chain.length - 1; c >= 0; c--) {
    const n = chain[c]!;
    // blocks ending in (parent.end, end]: out already holds the ones before them
    const last = Math.floor(n.end / bs);
    if (n.hashes !== undefined && n.bs === bs) {
      for (let i = 0; i < n.hashes.length; i++) out.push(n.hashes[i]!);
      continue;
    }
    const own: number[] = [];
    for (let k = out.length; k < last; k++) {
      const h = hashPromptBlock(k === 0 ? ROOT_HASH : out[k - 1]!, ids, k * bs, bs);
      out.push(h);
      own.push(h);
    }
    if (n.hashes === undefined && n !== EMPTY_PREFIX) {
      n.bs = bs;
      n.hashes = own;
    }
  }
  return out;
}

/** encodeChat without the message memo: every message encoded on every call */
function encodeChatPlain(messages: readonly ChatMessageLike[], tools?: readonly unknown[] | null): number[] {
  const out: number[] = [];
  if (tools && tools.length > 0) {
    out.push(SPECIAL.imStart, roleId('system'));
    pushAll(out, TOOLS_PREAMBLE);
    out.push(SPECIAL.toolsStart);
    for (const t of tools) pushAll(out, encodeJson(t));
    out.push(SPECIAL.toolsEnd, SPECIAL.imEnd);
  }
  for (const m of messages) encodeMessageInto(out, m);
  out.push(SPECIAL.imStart, roleId('assistant'));
  return out;
}

/** Conversation helpers: token estimates (one word ~ one token) and middle trimming. */
import type { ChatMessage, ToolSpec } from '../loadgen/transport.js';

const PER_MESSAGE_TOKENS = 5;

/**
 * Counts of long strings seen recently: a program re-sends its whole conversation on every call,
 * so the same message strings are counted again and again (virtual time: the hot path). Keyed by
 * the string (V8 caches a string's hash on it); cleared when it holds too many.
 */
const WORDS_MEMO = new Map<string, number>();
const MEMO_MIN_CHARS = 256;
const MEMO_MAX_ENTRIES = 20_000;

function countWords(s: string): number {
  if (s.length < MEMO_MIN_CHARS) return countWordsOf(s);
  const hit = WORDS_MEMO.get(s);
  if (hit !== undefined) return hit;
  const n = countWordsOf(s);
  if (WORDS_MEMO.size >= MEMO_MAX_ENTRIES) WORDS_MEMO.clear();
  WORDS_MEMO.set(s, n);
  return n;
}

function countWordsOf(s: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

export function messageWords(m: ChatMessage): number {
  let n = 0;
  if (typeof m.content === 'string') n += countWords(m.content);
  else if (Array.isArray(m.content)) for (const p of m.content) n += countWords(p.text);
  for (const tc of m.tool_calls ?? []) n += countWords(tc.function.name) + countWords(tc.function.arguments);
  return n;
}

export function estimateTokens(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) n += messageWords(m) + PER_MESSAGE_TOKENS;
  return n;
}

/**
 * Keeps the system message, the first user message and the most recent messages that fit in
 * `budget` tokens (the users' driver trims from the middle). A tool message is never kept
 * without the assistant message that called it.
 */
export function trimMiddle(messages: readonly ChatMessage[], budget: number): ChatMessage[] {
  if (estimateTokens(messages) <= budget) return [...messages];
  const head: ChatMessage[] = [];
  let i = 0;
  if (messages[0]?.role === 'system') head.push(messages[i++] as ChatMessage);
  const firstUser = messages.findIndex((m, k) => k >= i && m.role === 'user');
  if (firstUser >= 0) head.push(messages[firstUser] as ChatMessage);
  let used = estimateTokens(head);
  const tail: ChatMessage[] = [];
  for (let k = messages.length - 1; k > Math.max(firstUser, i - 1); k--) {
    const m = messages[k] as ChatMessage;
    const t = messageWords(m) + PER_MESSAGE_TOKENS;
    if (used + t > budget && tail.length > 0) break;
    tail.unshift(m);
    used += t;
  }
  while (tail.length > 1 && tail[0]?.role === 'tool') tail.shift();
  return [...head, ...tail];
}

export function toolSpecs(tools: readonly string[], experts: readonly string[]): ToolSpec[] {
  const specs: ToolSpec[] = tools.map((name) => ({
    type: 'function',
    function: {
      name,
      description: `Domain tool ${name}.`,
      parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    },
  }));
  if (experts.length > 0) {
    specs.push({
      type: 'function',
      function: {
        name: 'call_expert',
        description: 'Send the conversation to an expert model; its answer comes back as the tool result.',
        parameters: {
          type: 'object',
          properties: { expert: { type: 'string', enum: [...experts] } },
          required: ['expert'],
        },
      },
    });
  }
  return specs;
}

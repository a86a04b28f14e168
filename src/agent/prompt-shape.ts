/**
 * The prefix structure of an agent program's prompts, as steps.jsonl records it so a replay can
 * rebuild it (a prefix cache sees the same shared and re-sent blocks, not only the same token
 * counts): the program's head (tool schemas, system message; each by content hash and size, so
 * programs that shared a head share it again) and, per call, the earlier call whose whole
 * prompt (and answer) this prompt starts with.
 */
import type { ChatMessage, ToolSpec } from '../loadgen/transport.js';
import { messageMemoOn } from '../memo.js';
import { hashString } from './rng.js';

/** One part of a program's fixed head; programs with equal ids sent equal text. */
export interface PrefixSegment {
  /** `tools:<hash>` or `system:<hash>` of the text sent */
  id: string;
  /** its size in pieces (a word or a punctuation mark: the simulator's tokens, about a real tokenizer's) */
  tokens: number;
}

/** The earlier orchestrator call whose whole prompt (and, with `answer`, its answer) this prompt starts with. */
export interface HistoryRef {
  step: number;
  answer: boolean;
}

const PIECE_RE = /\w+|[^\w\s]/g;

const PIECES_MEMO = new Map<string, number>();

/** Pieces of a text; long texts are remembered (a conversation's messages are counted on every call). */
export function pieceCount(text: string): number {
  if (text.length < 256) return text.match(PIECE_RE)?.length ?? 0;
  const hit = PIECES_MEMO.get(text);
  if (hit !== undefined) return hit;
  const n = text.match(PIECE_RE)?.length ?? 0;
  if (PIECES_MEMO.size >= 20_000) PIECES_MEMO.clear();
  PIECES_MEMO.set(text, n);
  return n;
}

export function contentId(kind: string, text: string): string {
  const h = (seed: number) => hashString(text, seed).toString(16).padStart(8, '0');
  return `${kind}:${h(0x811c9dc5)}${h(0x2545f491)}`;
}

function textOf(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  return Array.isArray(m.content) ? m.content.map((p) => p.text).join('') : '';
}

/**
 * Segments per system message object (every call of a program sends the same one), used while
 * the object still holds the text they were computed from. (Tools are segmented once per program.)
 */
const SYSTEM_SEGMENT = new WeakMap<ChatMessage, { content: unknown; seg: PrefixSegment }>();

function systemSegment(sys: ChatMessage): PrefixSegment {
  const memo = messageMemoOn() && !Array.isArray(sys.content);
  const hit = memo ? SYSTEM_SEGMENT.get(sys) : undefined;
  if (hit && hit.content === sys.content) return { ...hit.seg };
  const t = textOf(sys);
  const seg = { id: contentId('system', t), tokens: pieceCount(t) };
  if (memo) SYSTEM_SEGMENT.set(sys, { content: sys.content, seg });
  return { ...seg };
}

/** The head segments of a prompt: the offered tools, then the leading system message. */
export function prefixSegments(
  messages: readonly ChatMessage[],
  tools?: readonly ToolSpec[],
): PrefixSegment[] {
  const out: PrefixSegment[] = [];
  if (tools && tools.length > 0) {
    const json = JSON.stringify(tools);
    out.push({ id: contentId('tools', json), tokens: pieceCount(json) });
  }
  const sys = messages[0];
  if (sys?.role === 'system') out.push(systemSegment(sys));
  return out;
}

function startsWith(seq: readonly ChatMessage[], head: readonly ChatMessage[]): boolean {
  if (head.length > seq.length) return false;
  for (let k = 0; k < head.length; k++) if (seq[k] !== head[k]) return false;
  return true;
}

/**
 * Follows one program's orchestrator prompts by message identity (the program keeps its
 * message objects; trimming drops some, never rewrites them).
 */
export class PromptShape {
  private readonly calls: { prompt: readonly ChatMessage[]; answer?: ChatMessage }[] = [];

  /** the shape of orchestrator call `step`'s prompt; call before sending it */
  prompt(step: number, messages: readonly ChatMessage[]): { history?: HistoryRef } {
    let best: { ref: HistoryRef; len: number } | undefined;
    this.calls.forEach((c, j) => {
      if (!startsWith(messages, c.prompt)) return;
      // the prompt, then the answer appended after it (no copy of the prompt to test that)
      const n = c.prompt.length;
      if (c.answer && messages.length > n && messages[n] === c.answer) {
        if (!best || n + 1 > best.len) best = { ref: { step: j, answer: true }, len: n + 1 };
      } else if (!best || n > best.len) {
        best = { ref: { step: j, answer: false }, len: n };
      }
    });
    this.calls[step] = { prompt: [...messages] };
    return best ? { history: best.ref } : {};
  }

  /** the assistant message the program appended after call `step` */
  answered(step: number, answer: ChatMessage): void {
    const c = this.calls[step];
    if (c) c.answer = answer;
  }
}

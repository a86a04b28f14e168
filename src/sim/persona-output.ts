/**
 * Turns an output plan into text token by token, as the engine emits tokens: each engine step
 * takes n tokens and gets back one delta (content, reasoning, tool-call fragments by index).
 * Tokens past the end of the plan (ignore_eos, min_tokens) are filler content.
 */
import { type OutputPlan, type Segment, TOOL_TRAILER, toolHeader } from './persona.js';
import { FILLER_WORDS, mixSeed, mulberry32, type Rng } from './persona-rng.js';
import { pieceId, splitPieces } from './tokenizer.js';

export interface ToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

export interface OutputDelta {
  content?: string;
  reasoning?: string;
  toolCalls?: ToolCallDelta[];
}

export interface AssembledToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface AssembledOutput {
  /** null when nothing was said in content (gpt-oss reasoning only, tool calls only) */
  content: string | null;
  reasoning: string | null;
  toolCalls: AssembledToolCall[];
}

interface ToolState {
  index: number;
  headerPieces: string[];
  headerTokens: number;
  argPieces: string[];
  trailerPieces: string[];
  trailerTokens: number;
  call: AssembledToolCall;
}

/** `chatcmpl-tool-<32 hex>` like vLLM */
export function toolCallId(rng: Rng): string {
  let s = 'chatcmpl-tool-';
  for (let i = 0; i < 4; i++)
    s += Math.floor(rng.next() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s;
}

export class OutputCursor {
  private seg = 0;
  private pos = 0;
  private textPieces: string[] | undefined;
  private tool: ToolState | undefined;
  private lastChar = '';
  private readonly rng: Rng;
  private readonly content: string[] = [];
  private readonly reasoning: string[] = [];
  private readonly toolCalls: AssembledToolCall[] = [];
  private toolsDone = 0;
  /** when set, the id of every generated token is appended (see outputDryRun) */
  private ids: number[] | undefined;
  /** when set, the raw text of every generated token is appended (see outputDryRun) */
  private raw: string[] | undefined;
  /** the raw text is inside a `<think>` block (reasoning channel) */
  private rawThink = false;
  emitted = 0;

  constructor(
    private readonly plan: OutputPlan,
    seed: number,
  ) {
    this.rng = mulberry32(mixSeed(seed, 0x5eed));
  }

  /** the next n tokens as one delta; undefined when they carry nothing visible */
  take(n: number): OutputDelta | undefined {
    let content = '';
    let reasoning = '';
    let tools: ToolCallDelta[] | undefined;
    for (let i = 0; i < n; i++) {
      const s: Segment | undefined = this.plan.segments[this.seg];
      this.emitted++;
      if (s === undefined) {
        const w = this.word();
        content += w;
        this.rawPush(w, false);
        continue;
      }
      if (s.kind === 'filler') {
        const w = this.word();
        if (s.channel === 'content') content += w;
        else reasoning += w;
        this.rawPush(w, s.channel === 'reasoning');
        this.advance(s.tokens);
      } else if (s.kind === 'text') {
        this.textPieces ??= splitPieces(s.text);
        const p = this.textPieces[this.pos]!;
        this.ids?.push(pieceId(p.trim()));
        this.rawPush(p, s.channel === 'reasoning');
        if (s.channel === 'content') content += p;
        else reasoning += p;
        this.lastChar = p[p.length - 1] ?? this.lastChar;
        this.advance(this.textPieces.length);
      } else {
        if (!this.tool) this.tool = this.startTool(s);
        const t = this.tool;
        let frag: ToolCallDelta | undefined;
        if (this.ids || this.raw) {
          const a = this.pos - t.headerTokens;
          const piece =
            this.pos < t.headerTokens
              ? t.headerPieces[this.pos]!
              : a < t.argPieces.length
                ? t.argPieces[a]!
                : t.trailerPieces[a - t.argPieces.length]!;
          this.ids?.push(pieceId(piece.trim()));
          this.rawPush(piece, false);
        }
        if (this.pos === t.headerTokens - 1) {
          frag = { index: t.index, id: t.call.id, name: t.call.name };
        } else if (this.pos >= t.headerTokens && this.pos < t.headerTokens + t.argPieces.length) {
          const piece = t.argPieces[this.pos - t.headerTokens]!;
          t.call.arguments += piece;
          frag = { index: t.index, arguments: piece };
        }
        if (frag) tools = mergeTool(tools ?? [], frag);
        const total = t.headerTokens + t.argPieces.length + t.trailerTokens;
        if (this.pos + 1 >= total) this.toolsDone++;
        this.advance(total);
      }
    }
    if (content) this.content.push(content);
    if (reasoning) this.reasoning.push(reasoning);
    if (!content && !reasoning && !tools) return undefined;
    const d: OutputDelta = {};
    if (content) d.content = content;
    if (reasoning) d.reasoning = reasoning;
    if (tools) d.toolCalls = tools;
    return d;
  }

  /** every tool call of the plan was emitted completely */
  get toolCallsComplete(): boolean {
    return (
      this.toolsDone > 0 && this.toolsDone === this.plan.segments.filter((s) => s.kind === 'tool').length
    );
  }

  result(): AssembledOutput {
    return {
      content: this.content.length > 0 ? this.content.join('') : null,
      reasoning: this.reasoning.length > 0 ? this.reasoning.join('') : null,
      toolCalls: this.toolCalls,
    };
  }

  /** one token's raw text; the reasoning channel goes inside `<think>` ... `</think>` */
  private rawPush(piece: string, reasoning: boolean): void {
    const r = this.raw;
    if (!r) return;
    if (reasoning !== this.rawThink) {
      r.push(reasoning ? '<think>\n' : '\n</think>\n\n');
      this.rawThink = reasoning;
    }
    r.push(piece);
  }

  /** start a dry run: record token ids, and the raw text when asked */
  record(ids: number[], text: boolean): void {
    this.ids = ids;
    if (text) this.raw = [];
  }

  /** the raw text recorded so far (record(.., true)), an open `<think>` block closed */
  rawText(): string {
    const r = this.raw ?? [];
    return r.join('') + (this.rawThink ? '\n</think>' : '');
  }

  private word(): string {
    const w = FILLER_WORDS[Math.floor(this.rng.next() * FILLER_WORDS.length)]!;
    this.ids?.push(pieceId(w));
    const sep = this.lastChar === '' || this.lastChar === ' ' || this.lastChar === '\n' ? '' : ' ';
    this.lastChar = 'x';
    return sep + w;
  }

  private advance(segTokens: number): void {
    this.pos++;
    if (this.pos >= segTokens) {
      this.seg++;
      this.pos = 0;
      this.textPieces = undefined;
      if (this.tool) this.lastChar = '\n';
      this.tool = undefined;
    }
  }

  private startTool(s: Extract<Segment, { kind: 'tool' }>): ToolState {
    const call: AssembledToolCall = { id: toolCallId(this.rng), name: s.name, arguments: '' };
    this.toolCalls.push(call);
    const headerPieces = splitPieces(toolHeader(s.name));
    const trailerPieces = splitPieces(TOOL_TRAILER);
    return {
      index: this.toolCalls.length - 1,
      headerPieces,
      headerTokens: headerPieces.length,
      argPieces: splitPieces(s.arguments),
      trailerPieces,
      trailerTokens: trailerPieces.length,
      call,
    };
  }
}

/**
 * Token ids of the first n output tokens the cursor with this plan and seed will produce (a
 * dry run). The engine caches them as the request's output blocks, so the next agent call that
 * re-sends this answer (same template rendering, see encodeChat) hits them in the prefix cache.
 */
export function outputTokenIds(plan: OutputPlan, seed: number, n: number): number[] {
  return outputDryRun(plan, seed, n, false).ids;
}

/**
 * One dry run of the first n output tokens: their ids, and with `text` the raw model text as
 * the engine would detokenize it (`<think>` blocks, hermes `<tool_call>` markup, before any
 * reasoning or tool-call extraction), which the continuum policy parses at the request's finish.
 */
export function outputDryRun(
  plan: OutputPlan,
  seed: number,
  n: number,
  text: boolean,
): { ids: number[]; text?: string } {
  const c = new OutputCursor(plan, seed);
  const ids: number[] = [];
  c.record(ids, text);
  c.take(n);
  return text ? { ids, text: c.rawText() } : { ids };
}

function mergeTool(list: ToolCallDelta[], frag: ToolCallDelta): ToolCallDelta[] {
  const prev = list.find((d) => d.index === frag.index);
  if (!prev) {
    list.push(frag);
    return list;
  }
  if (frag.id) prev.id = frag.id;
  if (frag.name) prev.name = frag.name;
  if (frag.arguments !== undefined) prev.arguments = (prev.arguments ?? '') + frag.arguments;
  return list;
}

import { readFileSync } from 'node:fs';
import { ServelabError } from '../errors.js';
import type { ChatMessage } from '../loadgen/transport.js';
import { mulberry32, subSeed } from '../random.js';
import type { WorkloadItem } from './item.js';
import { countWords } from './words.js';

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ServelabError('BAD_FILE', `${flag} ${path}: cannot read it`, {
      hint: 'check the path (relative paths are from the current directory)',
      cause,
    });
  }
}

/** JSON array, or JSON Lines (one object per line); `path:line` in errors. */
function parseRecords(text: string, path: string): unknown[] {
  const t = text.trimStart();
  if (t.startsWith('[')) {
    try {
      return JSON.parse(t) as unknown[];
    } catch (cause) {
      throw new ServelabError('BAD_FILE', `${path}: not valid JSON (${(cause as Error).message})`, { cause });
    }
  }
  const out: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch (cause) {
      throw new ServelabError('BAD_FILE', `${path}:${i + 1}: not a JSON line`, {
        hint: 'one JSON object per line: {"prompt": "..."} or {"messages": [...]}',
        cause,
      });
    }
  }
  return out;
}

function shuffleTake<T>(items: T[], count: number | undefined, seed: number): T[] {
  const rng = mulberry32(subSeed(seed, 300));
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return count === undefined ? items : items.slice(0, count);
}

export interface FileOptions {
  /** take this many items after a seeded shuffle (all when undefined) */
  count?: number;
  seed: number;
  /** force every output length (vLLM's --sharegpt-output-len) */
  outputTokens?: number;
}

/**
 * ShareGPT JSON or JSONL: conversations[0] (human) is the prompt, conversations[1] (gpt) sets
 * the output length. Lengths are word counts (exact for the simulator, an estimate for real
 * tokenizers); like vLLM, pairs shorter than 4 tokens either side are skipped.
 */
export function loadShareGpt(path: string, opts: FileOptions): WorkloadItem[] {
  const recs = parseRecords(readText(path, '--dataset-path'), path);
  const items: WorkloadItem[] = [];
  for (const r of recs) {
    const conv = (r as { conversations?: { from?: string; value?: string }[] })?.conversations;
    if (!Array.isArray(conv) || conv.length < 2) continue;
    const [h, g] = conv;
    if (typeof h?.value !== 'string' || typeof g?.value !== 'string') continue;
    if (h.from !== undefined && !['human', 'user'].includes(h.from)) continue;
    const promptTokens = countWords(h.value);
    const out = opts.outputTokens ?? countWords(g.value);
    if (promptTokens < 4 || out < 4) continue;
    items.push({ prompt: h.value, promptTokens, outputTokens: out });
  }
  if (items.length === 0)
    throw new ServelabError('BAD_FILE', `${path}: no usable ShareGPT conversations`, {
      hint: 'expected [{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}, ...]',
    });
  return shuffleTake(items, opts.count, opts.seed);
}

/**
 * Plain JSONL: each line {"prompt": "..."} or {"messages": [...]} (a string line is a prompt),
 * with optional output_tokens / max_tokens / output_len and prompt_tokens. The format that
 * `servelab dataset` writes.
 */
export function loadJsonl(path: string, opts: FileOptions & { defaultOutputTokens: number }): WorkloadItem[] {
  const recs = parseRecords(readText(path, '--dataset-path'), path);
  const items: WorkloadItem[] = recs.map((r, i) => {
    if (typeof r === 'string')
      return { prompt: r, promptTokens: countWords(r), outputTokens: opts.defaultOutputTokens };
    const o = (r ?? {}) as Record<string, unknown>;
    const messages = Array.isArray(o.messages) ? (o.messages as ChatMessage[]) : undefined;
    const prompt =
      typeof o.prompt === 'string'
        ? o.prompt
        : messages
          ? messages
              .map((m) =>
                typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join(''),
              )
              .join('\n')
          : undefined;
    if (prompt === undefined)
      throw new ServelabError('BAD_FILE', `${path}: record ${i + 1} has neither "prompt" nor "messages"`, {
        hint: 'one JSON object per line: {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}]}',
      });
    const outRaw = Number(o.output_tokens ?? o.max_tokens ?? o.output_len);
    const promptRaw = Number(o.prompt_tokens);
    return {
      prompt,
      ...(messages ? { messages } : {}),
      promptTokens: Number.isFinite(promptRaw) && promptRaw > 0 ? promptRaw : countWords(prompt),
      outputTokens:
        opts.outputTokens ?? (Number.isFinite(outRaw) && outRaw > 0 ? outRaw : opts.defaultOutputTokens),
      ...(typeof o.class === 'string' ? { class: o.class } : {}),
      ...(typeof o.group === 'number' ? { group: o.group } : {}),
    };
  });
  // a dataset file keeps its order unless a subset is asked for
  return opts.count === undefined || opts.count >= items.length ? items : items.slice(0, opts.count);
}

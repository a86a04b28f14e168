/**
 * Reads `usage` out of a response while it passes through the proxy unchanged: SSE streams line
 * by line (the chunk with `usage`, which vLLM sends last when the client asked for
 * stream_options.include_usage), JSON bodies at their end. The proxy never adds include_usage:
 * without it, the router keeps its estimate from the request size (core.ts).
 */
import type { CallUsage } from './core.js';

/** JSON bodies larger than this are passed through without reading their usage */
const MAX_JSON_CHARS = 32 * 1024 * 1024;

export class UsageScanner {
  private readonly sse: boolean;
  private readonly decoder = new TextDecoder();
  private buf = '';
  private tooBig = false;
  private found: CallUsage | undefined;

  constructor(contentType: string | undefined) {
    this.sse = (contentType ?? '').includes('text/event-stream');
  }

  push(chunk: Uint8Array): void {
    if (this.tooBig) return;
    this.buf += this.decoder.decode(chunk, { stream: true });
    if (!this.sse) {
      if (this.buf.length > MAX_JSON_CHARS) {
        this.tooBig = true;
        this.buf = '';
      }
      return;
    }
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      this.line(this.buf.slice(0, nl));
      this.buf = this.buf.slice(nl + 1);
      nl = this.buf.indexOf('\n');
    }
  }

  /** the usage seen, after the last chunk */
  end(): CallUsage | undefined {
    if (this.tooBig) return undefined;
    this.buf += this.decoder.decode();
    if (this.sse) this.line(this.buf);
    else this.found = usageOf(this.buf);
    this.buf = '';
    return this.found;
  }

  private line(raw: string): void {
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!l.startsWith('data:') || !l.includes('"usage"')) return;
    const u = usageOf(l.slice(5).trim());
    if (u) this.found = u;
  }
}

function usageOf(text: string): CallUsage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const u = (v as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  if (!u || typeof u.prompt_tokens !== 'number') return undefined;
  return {
    promptTokens: u.prompt_tokens,
    completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0,
  };
}

import { ServelabError } from '../errors.js';
import type { GoodputSlo } from './summary.js';

/** Parsers of `servelab bench` flag values; each error names the flag and the fix. */

/** `--goodput ttft:500 tpot:50 e2el:2000` (vLLM's syntax; ms). */
export function parseGoodput(parts: readonly string[]): GoodputSlo {
  const slo: GoodputSlo = {};
  for (const p of parts.flatMap((x) => x.split(/[\s,]+/)).filter(Boolean)) {
    const [k, v] = p.split(':');
    const ms = Number(v);
    if (!(ms > 0))
      throw new ServelabError('BAD_FLAG', `--goodput "${p}": the SLO must be a positive number of ms`, {
        hint: 'e.g. --goodput ttft:500 tpot:50 e2el:2000',
      });
    if (k === 'ttft') slo.ttftMs = ms;
    else if (k === 'tpot') slo.tpotMs = ms;
    else if (k === 'e2el') slo.e2elMs = ms;
    else
      throw new ServelabError('BAD_FLAG', `--goodput "${p}": unknown metric "${k}"`, {
        hint: 'use ttft, tpot or e2el, e.g. --goodput ttft:500 tpot:50',
      });
  }
  return slo;
}

export function parsePercentiles(text: string): number[] {
  const ps = text.split(',').map((s) => Number(s.trim()));
  if (ps.length === 0 || ps.some((p) => !(p > 0 && p < 100) && p !== 100))
    throw new ServelabError(
      'BAD_FLAG',
      `--percentiles "${text}": give percentiles in (0, 100], e.g. 50,90,95,99`,
    );
  return ps;
}

export function parseHeaders(list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const eq = h.indexOf('=');
    const colon = h.indexOf(':');
    const cut = eq === -1 ? colon : colon === -1 ? eq : Math.min(eq, colon);
    if (cut <= 0)
      throw new ServelabError('BAD_FLAG', `--header "${h}" is not k=v`, {
        hint: 'e.g. --header x-servelab-fault=429',
      });
    out[h.slice(0, cut).trim().toLowerCase()] = h.slice(cut + 1).trim();
  }
  return out;
}

/** vLLM takes the server root + an endpoint path; our transport takes a base ending in /v1. */
export function splitEndpoint(
  baseUrl: string,
  endpoint: string,
  backend?: string,
): { base: string; api: 'chat' | 'completions' } {
  let api: 'chat' | 'completions';
  if (backend !== undefined) {
    if (backend === 'openai-chat' || backend === 'vllm-chat') api = 'chat';
    else if (backend === 'openai' || backend === 'vllm') api = 'completions';
    else
      throw new ServelabError('BAD_FLAG', `--backend "${backend}" is not supported`, {
        hint: 'use openai-chat (chat completions) or openai (completions)',
      });
  } else if (/chat\/completions\/?$/.test(endpoint)) api = 'chat';
  else if (/completions\/?$/.test(endpoint)) api = 'completions';
  else
    throw new ServelabError('BAD_FLAG', `--endpoint "${endpoint}" is not an OpenAI completions path`, {
      hint: 'use /v1/chat/completions or /v1/completions',
    });
  let root: URL;
  try {
    root = new URL(baseUrl);
    if (root.protocol !== 'http:' && root.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ServelabError('BAD_FLAG', `--base-url "${baseUrl}" is not an http(s) URL`, {
      hint: 'e.g. --base-url http://127.0.0.1:8000',
    });
  }
  const prefix = endpoint.replace(/\/(chat\/)?completions\/?$/, '') || '/v1';
  const path = root.pathname.replace(/\/+$/, '');
  const base = `${root.origin}${path.endsWith(prefix) ? path : path + prefix}`;
  return { base, api };
}

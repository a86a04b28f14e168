/**
 * A minimal preflight of our own before each cell: every server answers /health and lists its
 * model in /v1/models. "Connection refused" is retried until the timeout (an SSH tunnel or a
 * model load takes a while), so a port not yet listening is not mistaken for a dead server.
 */
import { ServelabError } from '../errors.js';
import type { ServerInfo } from './servers.js';

async function getJson(
  url: string,
  timeoutMs: number,
  apiKey?: string,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // /health answers an empty body
  }
  return { status: res.status, body };
}

export async function preflight(
  servers: readonly ServerInfo[],
  opts: { timeoutMs: number; apiKey?: string; signal?: AbortSignal },
): Promise<void> {
  const problems: string[] = [];
  await Promise.all(
    servers.map(async (s) => {
      const deadline = Date.now() + opts.timeoutMs;
      let last = '';
      for (;;) {
        try {
          const h = await getJson(`${s.url}/health`, 5000, opts.apiKey);
          if (h.status !== 200) throw new Error(`/health answered ${h.status}`);
          const m = await getJson(`${s.url}/v1/models`, 5000, opts.apiKey);
          const ids = ((m.body as { data?: { id?: string }[] })?.data ?? []).map((d) => d.id);
          if (!ids.includes(s.model)) {
            problems.push(`${s.label}: /v1/models lists ${ids.join(', ') || 'nothing'}, not "${s.model}"`);
          }
          return;
        } catch (err) {
          last = (err as Error).message;
          const cause = (err as { cause?: { code?: string } }).cause?.code;
          if (cause) last = `${last} (${cause})`;
        }
        if (Date.now() > deadline || opts.signal?.aborted) {
          problems.push(`${s.label}: not ready: ${last}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }),
  );
  if (problems.length > 0) {
    throw new ServelabError('NOT_READY', `preflight failed:\n  ${problems.join('\n  ')}`, {
      hint: 'check the ports and model names in the endpoints (servelab check), and the server logs',
      exitCode: 1,
    });
  }
}

/** Each server's /version (vLLM answers {"version": "0.11.0"}); "unknown" when it has none. */
export async function serverVersions(servers: readonly ServerInfo[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await Promise.all(
    servers.map(async (s) => {
      try {
        const r = await getJson(`${s.url}/version`, 3000);
        const v = (r.body as { version?: unknown })?.version;
        out[s.label] = r.status === 200 && typeof v === 'string' ? v : 'unknown';
      } catch {
        out[s.label] = 'unknown';
      }
    }),
  );
  return out;
}

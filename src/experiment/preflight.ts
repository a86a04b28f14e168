/**
 * Preflight before each cell (src/preflight's checkEndpoints) and the servers' versions.
 * "Connection refused" is retried until the wait ends (an SSH tunnel or a model load takes a
 * while), so a port not yet listening is not mistaken for a dead server.
 */
import { ServelabError } from '../errors.js';
import type { ServerInfo } from '../launch/launcher.js';
import type { FetchText } from '../metrics/fetch.js';
import { checkEndpoints, renderCheckReport } from '../preflight/index.js';

export interface PreflightOutcome {
  /** per endpoint: quirks seen in the smoke answers and problems of severity warn/info */
  endpoints: { label: string; version?: string; quirks: string[]; problems: string[] }[];
}

/**
 * The preflight of src/preflight (TCP refused vs unreachable, /health, /v1/models, /version, a
 * smoke chat and, for the orchestrator, a tool call; retried until `waitMs`). Not ready: throws
 * NOT_READY with its table; warnings come back for cell.json.
 */
export async function preflight(
  servers: readonly ServerInfo[],
  opts: { waitMs: number; smoke: boolean; orchestrator: string; apiKey?: string; signal?: AbortSignal },
): Promise<PreflightOutcome> {
  const report = await checkEndpoints({
    endpoints: servers.map((s) => ({
      url: s.url,
      model: s.model,
      label: s.label,
      tools: s.model === opts.orchestrator,
    })),
    smoke: opts.smoke,
    waitMs: opts.waitMs,
    gpu: false,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (!report.ready) {
    throw new ServelabError('NOT_READY', `preflight failed:\n${renderCheckReport(report)}`, {
      hint: 'check the ports and model names of the endpoints (servelab check), and the server logs',
      exitCode: 1,
    });
  }
  return {
    endpoints: report.endpoints.map((e) => ({
      label: e.label,
      ...(e.version ? { version: e.version } : {}),
      quirks: [...e.quirks],
      problems: e.problems.map((p) => `${p.severity}: ${p.message}${p.hint ? `; hint: ${p.hint}` : ''}`),
    })),
  };
}

/**
 * Each server's /version (vLLM answers {"version": "0.11.0"}); "unknown" when it has none.
 * Read through the launcher's fetchText (HTTP, or in-process for virtual servers).
 */
export async function serverVersions(
  servers: readonly ServerInfo[],
  fetchText: FetchText,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await Promise.all(
    servers.map(async (s) => {
      try {
        const r = await fetchText(`${s.url}/version`, { timeoutMs: 3000 });
        const v = r.ok ? (JSON.parse(r.text) as { version?: unknown })?.version : undefined;
        out[s.label] = typeof v === 'string' ? v : 'unknown';
      } catch {
        out[s.label] = 'unknown';
      }
    }),
  );
  return out;
}

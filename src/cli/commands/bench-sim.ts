import { isAbsolute, join, resolve } from 'node:path';
import { request } from 'undici';
import { networkError } from '../../client/errors.js';
import type { SecretRegistry } from '../../config/secrets.js';
import { ServelabError } from '../../errors.js';
import { splitEndpoint } from '../../loadgen/bench-flags.js';
import { BenchRunDir, benchRunName } from '../../loadgen/run-dir.js';

/** The model the embedded simulator serves when --model is not given. */
export const EMBEDDED_SIM_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** The first model of `base`/models (bench without --model); a server that is not there is said so. */
export async function firstModel(base: string, apiKey?: string): Promise<string> {
  let why: string;
  try {
    const res = await request(`${base}/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    let id: string | undefined;
    try {
      id = (JSON.parse(text) as { data?: { id?: string }[] }).data?.[0]?.id;
    } catch {
      // not JSON: reported below
    }
    if (res.statusCode === 200 && id) return id;
    why = res.statusCode === 200 ? 'did not name one' : `answered HTTP ${res.statusCode}`;
  } catch (err) {
    // the server is not there at all: say so, the way every other request failure is said
    const u = new URL(base);
    throw new ServelabError('NOT_READY', networkError(err, u.host, `GET ${base}/models`).message, {
      hint: 'start the server (or the SSH forward) first; `servelab check URL --wait 60s` waits for it',
    });
  }
  throw new ServelabError('NOT_READY', `no --model given and ${base}/models ${why}`, {
    hint: 'pass --model NAME, or check that the server is up (servelab check)',
  });
}

/**
 * The server a bench command measures: `--base-url` (its /v1 base and API from --endpoint /
 * --backend; the model from --model or its /v1/models) or, without it, the embedded simulator.
 */
export async function benchServer(
  f: { baseUrl?: string; endpoint: string; backend?: string; model?: string },
  apiKey: string | undefined,
): Promise<{
  ends?: { base: string; api: 'chat' | 'completions' };
  api: 'chat' | 'completions';
  model: string;
}> {
  const ends = f.baseUrl ? splitEndpoint(f.baseUrl, f.endpoint, f.backend) : undefined;
  const api = ends?.api ?? splitEndpoint('http://127.0.0.1', f.endpoint, f.backend).api;
  const model = ends ? (f.model ?? (await firstModel(ends.base, apiKey))) : (f.model ?? EMBEDDED_SIM_MODEL);
  return { ...(ends ? { ends } : {}), api, model };
}

/** The run directory of a bench command: --out, or --result-dir/bench-<UTC time>. */
export function openBenchRunDir(
  f: { out?: string; resultDir?: string },
  cwd: string,
  argv: readonly string[],
  secrets: SecretRegistry,
): { dir: string; runDir: BenchRunDir } {
  const createdAt = new Date();
  const name = benchRunName(createdAt);
  const parent = f.resultDir ?? 'runs';
  const dir = f.out ? resolve(cwd, f.out) : join(isAbsolute(parent) ? parent : resolve(cwd, parent), name);
  return { dir, runDir: new BenchRunDir(dir, name, argv, createdAt, secrets) };
}

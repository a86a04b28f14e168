import { request } from 'undici';
import { networkError } from '../../client/errors.js';
import { ServelabError } from '../../errors.js';

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

/** Secrets (API keys) are referenced by env var name or file, resolved late, never written. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ServelabError } from '../errors.js';
import type { SecretRef } from './spec.js';

export function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv, baseDir: string): string {
  if ('env' in ref) {
    const v = env[ref.env];
    if (!v)
      throw new ServelabError('BAD_CONFIG', `secret env var ${ref.env} is not set`, {
        hint: `export ${ref.env}=...`,
      });
    return v;
  }
  try {
    return readFileSync(resolve(baseDir, ref.file), 'utf8').trim();
  } catch (err) {
    throw new ServelabError('BAD_FILE', `cannot read secret file "${ref.file}"`, { cause: err });
  }
}

const SECRET_KEY = /(key|token|secret|password|passwd|auth)/i;

/** A deep copy with secret-looking env values and inline keys replaced by "<redacted>". */
export function redact(value: unknown, parentKey = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, parentKey));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && SECRET_KEY.test(k) && parentKey !== 'apiKey') out[k] = '<redacted>';
      else out[k] = redact(v, k);
    }
    return out;
  }
  return value;
}

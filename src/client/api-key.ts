import { readKeyFile } from '../config/secrets.js';

export interface ApiKeySource {
  /** name of the environment variable holding the key (default OPENAI_API_KEY) */
  envName?: string;
  /** a file whose first line is the key; wins over the environment variable */
  file?: string;
}

/**
 * The bearer token, or undefined when none is configured. The key is never logged; callers
 * pass it to the transport only. A named file that cannot be read is an error (the user asked
 * for it); a missing environment variable is not (local servers need no key).
 */
export function resolveApiKey(src: ApiKeySource, env: NodeJS.ProcessEnv): string | undefined {
  if (src.file) return readKeyFile(src.file, '.', `--api-key-file ${src.file}`);
  const value = env[src.envName ?? 'OPENAI_API_KEY']?.trim();
  return value ? value : undefined;
}

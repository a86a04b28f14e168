/**
 * The headers `scrape` and `monitor` send with every GET (/metrics, /health): `--header`, and
 * the API key as `authorization: Bearer K` (from --api-key-env / --api-key-file, as `check` and
 * `bench` read it). Every key given, URL userinfo included, is registered in the invocation's
 * SecretRegistry, so server text they print or write (an error body echoing the key) is scrubbed.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { resolveApiKey } from '../client/api-key.js';
import { SecretRegistry, secretsFromHeaders, secretsFromUrl } from '../config/secrets.js';
import { HEADER_SYNTAX, parseHeaders } from './headers.js';
import type { CliIO } from './io.js';

export interface ServerAuthFlags {
  url?: string[];
  header?: string[];
  apiKeyEnv: string;
  apiKeyFile?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --header, --api-key-env, --api-key-file on a command that reads servers' pages. */
export function addServerAuthOptions(cmd: Command, what: string): Command {
  return cmd
    .option(`--header <${HEADER_SYNTAX}>`, `extra header on every ${what} request (repeatable)`, collect)
    .option(
      '--api-key-env <name>',
      'environment variable holding the API key (sent as authorization: Bearer)',
      'OPENAI_API_KEY',
    )
    .option('--api-key-file <file>', 'file whose first line is the API key');
}

/** The headers to send; every secret among them (and in the URLs) registered first. */
export function serverAuth(
  f: ServerAuthFlags,
  io: CliIO,
): { headers: Record<string, string>; secrets: SecretRegistry } {
  const secrets = io.secrets ?? new SecretRegistry();
  for (const u of f.url ?? []) secrets.addAll(secretsFromUrl(u));
  const headers = parseHeaders(f.header);
  secrets.addAll(secretsFromHeaders(headers));
  const apiKey = resolveApiKey(
    { envName: f.apiKeyEnv, ...(f.apiKeyFile ? { file: resolve(io.cwd, f.apiKeyFile) } : {}) },
    io.env,
  );
  secrets.add(apiKey);
  if (apiKey && headers.authorization === undefined) headers.authorization = `Bearer ${apiKey}`;
  return { headers, secrets };
}

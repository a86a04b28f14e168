/**
 * Secrets: API keys and tokens servelab was given, from any source. Spec references (env var
 * or file) are resolved late; every value servelab learns is registered in one SecretRegistry,
 * and everything servelab writes or prints (run-directory files, logs, records with
 * server-provided text, stdout / stderr) is scrubbed of those values, not only by field name.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ServelabError } from '../errors.js';
import type { SecretRef, Spec } from './spec.js';

/** What a secret is replaced with (docs/FORMATS.md). */
export const REDACTED = '<redacted>';

/**
 * Shorter values are not registered: scrubbing a 3-character "secret" would rewrite ordinary
 * text (numbers, words) all over the run directory. Field-name redaction still covers them.
 */
export const MIN_SECRET_LENGTH = 6;

/** The values of every secret servelab was given; `scrub` replaces them wherever they occur. */
export class SecretRegistry {
  private readonly values = new Set<string>();
  /** longest first, so a key that contains another registered key is replaced whole */
  private sorted: string[] = [];

  /** Registers a value and the forms it takes inside JSON strings and URLs. */
  add(value: string | undefined): void {
    const v = value?.trim();
    if (!v || v.length < MIN_SECRET_LENGTH) return;
    const forms = new Set([v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v)]);
    let changed = false;
    for (const f of forms) {
      if (!this.values.has(f)) {
        this.values.add(f);
        changed = true;
      }
    }
    if (changed) this.sorted = [...this.values].sort((a, b) => b.length - a.length);
  }

  addAll(values: Iterable<string>): void {
    for (const v of values) this.add(v);
  }

  get size(): number {
    return this.values.size;
  }

  /** The text with every registered secret replaced by REDACTED. */
  scrub(text: string): string {
    let out = text;
    for (const s of this.sorted) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  /** A deep copy with every string (and object key) scrubbed. */
  scrubValue<T>(value: T): T {
    if (this.sorted.length === 0) return value;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.scrub(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[this.scrub(k)] = walk(x);
        return out;
      }
      return v;
    };
    return walk(value) as T;
  }
}

/**
 * Scrubs the files of a directory in place (the servers' logs, which the server processes
 * write themselves: vLLM logs its non-default args, --api-key among them). Best effort: a
 * file that cannot be read or rewritten is left as it is.
 */
export function scrubFiles(dir: string, secrets: SecretRegistry): void {
  if (secrets.size === 0) return;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      const text = readFileSync(path, 'utf8');
      const clean = secrets.scrub(text);
      if (clean !== text) writeFileSync(path, clean);
    } catch {
      // a log that vanished or is not ours to rewrite: nothing to do
    }
  }
}

/** Words that make a name (env var, header, body field, flag) a secret's name. */
const SECRET_WORDS = new Set([
  'key',
  'apikey',
  'token',
  'secret',
  'password',
  'passwd',
  'pwd',
  'credential',
  'credentials',
  'auth',
  'authorization',
  'cookie',
]);
/** ...unless the name ends in one of these: its value is a name or a path, not the secret */
const NAME_NOT_VALUE = new Set(['sock', 'socket', 'file', 'path', 'env', 'dir', 'url', 'name']);

/** `pwd` is a password's name (`DB_PWD`), but `PWD` / `OLDPWD` are where the shell is. */
const SHELL_DIR_VARS = new Set(['PWD', 'OLDPWD']);

/** `HF_TOKEN`, `x-api-key`, `apiKey`, `authorization`: yes; `MAX_TOKENS`, `SSH_AUTH_SOCK`, `api_key_file`: no. */
export function isSecretName(name: string): boolean {
  // the shell's working directories, not passwords (every printed path was redacted with them)
  if (SHELL_DIR_VARS.has(name)) return false;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  if (words.length === 0 || NAME_NOT_VALUE.has(words.at(-1) as string)) return false;
  return words.some((w) => SECRET_WORDS.has(w));
}

/** Prefixes of well-known credential formats (OpenAI, Hugging Face, GitHub, Slack, AWS, GitLab, JWT). */
const KEY_PREFIX =
  /^(sk-|sk_|hf_|ghp_|gho_|ghs_|github_pat_|xox[abpr]-|AKIA|glpat-|eyJ)[A-Za-z0-9._\-+/=]{8,}$/;
const UUID = /^([A-Za-z]+-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A value shaped like a credential even under a plain name: a well-known prefix, or a long
 * unbroken run of letters and digits (no '/', '.' or spaces, so model names, paths, URLs and
 * version strings are not taken for keys; GPU UUIDs neither).
 */
export function looksLikeKey(value: string): boolean {
  const v = value.trim();
  if (KEY_PREFIX.test(v)) return true;
  return (
    v.length >= 32 && /^[A-Za-z0-9_\-+=]+$/.test(v) && /\d/.test(v) && /[A-Za-z]/.test(v) && !UUID.test(v)
  );
}

/** Secrets in an environment: values of secret-named variables, and key-shaped values. */
export function secretsFromEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v && (isSecretName(k) || looksLikeKey(v))) out.push(v);
  return out;
}

/** Flags whose value is a secret: --api-key, --hf-token, --token, --secret-key, --password, ... */
const isSecretFlag = (a: string) => /^--?[A-Za-z]/.test(a) && isSecretName(a.replace(/^-+/, ''));

/**
 * Secrets in a command line: the values after --api-key / --hf-token style flags (vLLM's
 * --api-key takes several), the `--flag=value` form, and key-shaped arguments anywhere.
 */
export function secretsFromArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    if (a.startsWith('-') && eq > 0) {
      if (isSecretFlag(a.slice(0, eq))) out.push(a.slice(eq + 1));
      else if (looksLikeKey(a.slice(eq + 1))) out.push(a.slice(eq + 1));
      continue;
    }
    if (isSecretFlag(a)) {
      // vLLM's --api-key is nargs="+": every value up to the next flag
      const many = /api[-_]?key$/i.test(a);
      for (let j = i + 1; j < argv.length && !(argv[j] as string).startsWith('-'); j++) {
        out.push(argv[j] as string);
        i = j;
        if (!many) break;
      }
      continue;
    }
    if (looksLikeKey(a)) out.push(a);
  }
  return out;
}

/** Secrets in HTTP headers: values of secret-named headers, and the token after `Bearer `/`Basic `. */
export function secretsFromHeaders(headers: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (!isSecretName(k) && !looksLikeKey(v)) continue;
    out.push(v);
    const m = /^\s*\S+\s+(\S.*)$/.exec(v);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

/** The password (or, alone, the user name) of a URL's userinfo: `http://u:KEY@host`. */
export function secretsFromUrl(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const m = /^[a-z][\w+.-]*:\/\/([^/@]*)@/i.exec(url);
    if (!m?.[1]) return [];
    const [user = '', pass = ''] = m[1].split(':');
    return pass ? [pass] : user ? [user] : [];
  }
  const out: string[] = [];
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (u.password) out.push(u.password, dec(u.password));
  else if (u.username) out.push(u.username, dec(u.username));
  return out;
}

/** Secrets in a JSON body (--extra-body, an arm's extraBody): string fields named like keys. */
export function secretsFromBody(body: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string) => {
    if (typeof v === 'string') {
      if (isSecretName(key) || looksLikeKey(v)) out.push(v);
    } else if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(body, '');
  return out;
}

/**
 * Secrets written into a spec: the recipes' argv values after --api-key style flags, their env
 * values that are named like secrets or shaped like keys, key fields of arms' extraBody and
 * URL userinfo. (The spec's own apiKey reference is resolved by the caller.)
 */
export function secretsFromSpec(spec: Spec): string[] {
  const out: string[] = [];
  for (const s of Object.values(spec.servers)) {
    if (s.kind !== 'command') continue;
    for (const p of s.processes) {
      out.push(...secretsFromArgv(p.argv), ...secretsFromEnv(p.env));
      if (p.health) out.push(...secretsFromUrl(p.health));
    }
  }
  const r = spec.workload.requests;
  if (r?.headers) out.push(...secretsFromHeaders(r.headers));
  if (r?.extra_body) out.push(...secretsFromBody(r.extra_body));
  for (const s of Object.values(spec.servers))
    if (s.kind === 'external' && s.url) out.push(...secretsFromUrl(s.url));
  for (const a of spec.arms) {
    out.push(...secretsFromBody(a.extraBody));
    if (typeof a.release === 'string') out.push(...secretsFromUrl(a.release));
  }
  return out;
}

/**
 * A key file: its first line, trimmed (the rest of the file is ignored, so a trailing newline
 * or a comment line never becomes part of the key). `what` names the input in errors.
 */
export function readKeyFile(file: string, baseDir: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(baseDir, file), 'utf8');
  } catch (cause) {
    throw new ServelabError('BAD_FILE', `${what}: cannot read it`, {
      hint: 'give a readable file whose first line is the API key',
      cause,
    });
  }
  const key = text.split(/\r?\n/)[0]?.trim();
  if (!key)
    throw new ServelabError('BAD_FILE', `${what}: the first line is empty`, {
      hint: 'put the API key on its first line',
    });
  return key;
}

export function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv, baseDir: string): string {
  if ('env' in ref) {
    const v = env[ref.env]?.trim();
    if (!v)
      throw new ServelabError('BAD_CONFIG', `secret env var ${ref.env} is not set`, {
        hint: `export ${ref.env}=...`,
      });
    return v;
  }
  // the first line, trimmed, as --api-key-file reads it
  return readKeyFile(ref.file, baseDir, `apiKey file "${ref.file}"`);
}

const SECRET_KEY = /(key|token|secret|password|passwd|auth)/i;

/** A deep copy with secret-looking env values and inline keys replaced by "<redacted>". */
export function redact(value: unknown, parentKey = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, parentKey));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && SECRET_KEY.test(k) && parentKey !== 'apiKey') out[k] = REDACTED;
      else out[k] = redact(v, k);
    }
    return out;
  }
  return value;
}

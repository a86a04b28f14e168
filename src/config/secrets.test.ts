import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isSecretName,
  looksLikeKey,
  REDACTED,
  resolveSecret,
  SecretRegistry,
  scrubFiles,
  secretsFromArgv,
  secretsFromBody,
  secretsFromEnv,
  secretsFromHeaders,
  secretsFromUrl,
} from './secrets.js';

describe('SecretRegistry', () => {
  it('replaces every occurrence, in plain, JSON-escaped and URL-encoded form, longest first', () => {
    const r = new SecretRegistry();
    r.add('sk-abc"def/ghi');
    r.add('sk-abc');
    expect(r.scrub('a sk-abc"def/ghi b sk-abc c')).toBe(`a ${REDACTED} b ${REDACTED} c`);
    expect(r.scrub(JSON.stringify({ m: 'x sk-abc"def/ghi' }))).toBe(`{"m":"x ${REDACTED}"}`);
    expect(r.scrub('http://u:sk-abc%22def%2Fghi@h')).toBe(`http://u:${REDACTED}@h`);
    expect(r.scrubValue({ 'sk-abc': ['sk-abc!', 3] })).toEqual({ [REDACTED]: [`${REDACTED}!`, 3] });
  });
  it('does not register values too short to be keys (they would rewrite ordinary text)', () => {
    const r = new SecretRegistry();
    r.add('1');
    r.add('true');
    r.add(undefined);
    expect(r.size).toBe(0);
    expect(r.scrub('1 true')).toBe('1 true');
  });
});

describe('where secrets are found', () => {
  it('names: key / token / secret / password words, not token counts or paths', () => {
    for (const n of [
      'HF_TOKEN',
      'OPENAI_API_KEY',
      'x-api-key',
      'authorization',
      'apiKey',
      'AWS_SECRET_ACCESS_KEY',
      'api_key',
      'DB_PWD',
    ])
      expect(isSecretName(n), n).toBe(true);
    for (const n of [
      'MAX_TOKENS',
      'max_tokens',
      'SSH_AUTH_SOCK',
      'api_key_file',
      'CUDA_VISIBLE_DEVICES',
      'tokenizer',
      'PWD',
      'OLDPWD',
    ])
      expect(isSecretName(n), n).toBe(false);
  });
  it('key-shaped values: known prefixes and long letter-digit runs, not model names, paths or GPU UUIDs', () => {
    for (const v of ['sk-proj-abcdef123456', 'hf_abcdefghijk', 'Qx7Lm2Pz9Rt4Vw6Ny1Bk3Hs8Jd5Fg0CaUeYiOo'])
      expect(looksLikeKey(v), v).toBe(true);
    for (const v of [
      'meta-llama/Llama-3.1-8B-Instruct',
      '/ckpt/Nemotron-Orchestrator-8B',
      'GPU-8f0e1c2d-3b4a-5968-7a6b-5c4d3e2f1a0b',
      '0,1',
      'http://127.0.0.1:8000',
    ])
      expect(looksLikeKey(v), v).toBe(false);
  });
  it('argv: values after --api-key (several, as vLLM takes) / --hf-token / --token, --flag=value, key-shaped args', () => {
    expect(
      secretsFromArgv([
        'vllm',
        'serve',
        'm',
        '--api-key',
        'k-one-1',
        'k-two-2',
        '--port',
        '8000',
        '--hf-token',
        'hf-secret',
        '--token=tok-value',
        '--max-num-batched-tokens',
        '8192',
        '--api-key-env',
        'OPENAI_API_KEY',
        'sk-loose-arg-1234567',
      ]),
    ).toEqual(['k-one-1', 'k-two-2', 'hf-secret', 'tok-value', 'sk-loose-arg-1234567']);
    // --hf-token alone (vLLM: use the cached login) takes nothing
    expect(secretsFromArgv(['--hf-token', '--port', '1'])).toEqual([]);
  });
  it('env, headers, URLs and bodies', () => {
    expect(
      secretsFromEnv({
        HF_TOKEN: 'hf-abc',
        PLAIN: 'Qx7Lm2Pz9Rt4Vw6Ny1Bk3Hs8Jd5Fg0CaUeYiOo',
        CUDA_VISIBLE_DEVICES: '0',
      }),
    ).toEqual(['hf-abc', 'Qx7Lm2Pz9Rt4Vw6Ny1Bk3Hs8Jd5Fg0CaUeYiOo']);
    expect(secretsFromHeaders({ authorization: 'Bearer tok-123', 'x-fault': '429' })).toEqual([
      'Bearer tok-123',
      'tok-123',
    ]);
    expect(secretsFromUrl('http://user:pa%40ss@h:1/v1')).toEqual(['pa%40ss', 'pa@ss']);
    expect(secretsFromUrl('https://tok-only@h')).toEqual(['tok-only', 'tok-only']);
    expect(secretsFromUrl('http://h:1')).toEqual([]);
    expect(
      secretsFromBody({ api_key: 'body-key', nested: { token: 'tok-2' }, max_tokens: 5, model: 'm' }),
    ).toEqual(['body-key', 'tok-2']);
  });
});

describe('files', () => {
  it('an apiKey file is its first line, trimmed; an empty first line is an error naming the file', () => {
    const d = mkdtempSync(join(tmpdir(), 'servelab-secret-'));
    writeFileSync(join(d, 'k'), '  sk-first  \nsk-second\n');
    expect(resolveSecret({ file: 'k' }, {}, d)).toBe('sk-first');
    writeFileSync(join(d, 'e'), '\nsk-second\n');
    expect(() => resolveSecret({ file: 'e' }, {}, d)).toThrow(/apiKey file "e": the first line is empty/);
    expect(() => resolveSecret({ file: 'missing' }, {}, d)).toThrow(/apiKey file "missing": cannot read it/);
  });
  it('scrubFiles rewrites the logs of a directory in place', () => {
    const d = mkdtempSync(join(tmpdir(), 'servelab-logs-'));
    writeFileSync(join(d, 'vllm.log'), "INFO non-default args: {'api_key': ['sk-log-key-123']}\n");
    writeFileSync(join(d, 'other.log'), 'nothing here\n');
    const r = new SecretRegistry();
    r.add('sk-log-key-123');
    scrubFiles(d, r);
    expect(readFileSync(join(d, 'vllm.log'), 'utf8')).toBe(
      `INFO non-default args: {'api_key': ['${REDACTED}']}\n`,
    );
    expect(readFileSync(join(d, 'other.log'), 'utf8')).toBe('nothing here\n');
  });
});

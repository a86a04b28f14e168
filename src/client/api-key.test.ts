import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveApiKey } from './api-key.js';

describe('resolveApiKey', () => {
  it('reads the named variable (default OPENAI_API_KEY), or the first line of a file, which wins', () => {
    expect(resolveApiKey({}, { OPENAI_API_KEY: ' sk-a ' })).toBe('sk-a');
    expect(resolveApiKey({ envName: 'K' }, { K: 'sk-b', OPENAI_API_KEY: 'sk-a' })).toBe('sk-b');
    expect(resolveApiKey({ envName: 'K' }, {})).toBeUndefined();
    const f = join(mkdtempSync(join(tmpdir(), 'servelab-key-')), 'key');
    writeFileSync(f, 'sk-file\nignored\n');
    expect(resolveApiKey({ file: f }, { OPENAI_API_KEY: 'sk-a' })).toBe('sk-file');
  });
  it('a missing or empty file is an error naming the flag, without the key', () => {
    expect(() => resolveApiKey({ file: '/nonexistent/key' }, {})).toThrow(/--api-key-file/);
    const f = join(mkdtempSync(join(tmpdir(), 'servelab-key-')), 'empty');
    writeFileSync(f, '\n');
    expect(() => resolveApiKey({ file: f }, {})).toThrow(/empty/);
  });
});

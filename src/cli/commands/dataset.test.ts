import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { loadJsonl } from '../../workload/files.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const io = () => captureIo();

describe('servelab dataset', () => {
  it('writes a seeded suite as JSONL that bench reads back, with --show-stats', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-ds-'));
    const file = join(dir, 'q.jsonl');
    const c = io();
    expect(
      await runMain(['dataset', '--suite', 'quick_test', '--seed', '7', '--show-stats', '-o', file], c.io),
    ).toBe(EXIT.ok);
    expect(c.out.join('')).toMatch(/prompts: 100[\s\S]*classes: /);
    const again = io();
    await runMain(['dataset', '--suite', 'quick_test', '--seed', '7'], again.io);
    expect(again.out.join('')).toBe(readFileSync(file, 'utf8'));
    const items = loadJsonl(file, { seed: 0, defaultOutputTokens: 1 });
    expect(items).toHaveLength(100);
    expect(items[0]!.prompt.split(' ')).toHaveLength(items[0]!.promptTokens);
  });

  it('names a bad flag', async () => {
    const c = io();
    expect(await runMain(['dataset', '--input-dist', 'zipf:2'], c.io)).toBe(EXIT.usage);
    expect(c.err.join('')).toContain('--input-dist');
  });
});

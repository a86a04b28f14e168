import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { gamma, mulberry32 } from '../random.js';
import { loadJsonl, loadShareGpt } from './files.js';
import { parseLength, sampleLength } from './lengths.js';
import { buildWorkload } from './source.js';
import { datasetStats } from './stats.js';
import { suiteItems } from './suites.js';
import { prefixItems, syntheticItems } from './synthetic.js';
import { countWords, WORDS } from './words.js';

describe('prng and samplers', () => {
  it('is reproducible and roughly uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
  it('gamma has mean k*theta for k < 1 and k > 1', () => {
    for (const k of [0.5, 2]) {
      const r = mulberry32(7);
      let s = 0;
      for (let i = 0; i < 20_000; i++) s += gamma(r, k, 3);
      expect(s / 20_000).toBeGreaterThan(k * 3 * 0.95);
      expect(s / 20_000).toBeLessThan(k * 3 * 1.05);
    }
  });
});

describe('length distributions', () => {
  it('parses every form and rejects bad ones naming the flag', () => {
    expect(parseLength('512', '--x')).toEqual({ kind: 'fixed', value: 512 });
    expect(parseLength('uniform:128-1024', '--x')).toEqual({ kind: 'uniform', min: 128, max: 1024 });
    expect(parseLength('normal:512,64', '--x')).toEqual({ kind: 'normal', mean: 512, std: 64 });
    expect(parseLength('lognormal:512,0.5', '--x')).toEqual({ kind: 'lognormal', mean: 512, sigma: 0.5 });
    expect(() => parseLength('zipf:3', '--input-dist')).toThrow(/--input-dist "zipf:3"/);
    expect(() => parseLength('uniform:9-3', '--x')).toThrow(ServelabError);
  });
  it('samples stay in range and lognormal keeps its mean', () => {
    const r = mulberry32(1);
    for (let i = 0; i < 1000; i++) {
      const u = sampleLength({ kind: 'uniform', min: 10, max: 20 }, r);
      expect(u).toBeGreaterThanOrEqual(10);
      expect(u).toBeLessThanOrEqual(20);
    }
    let s = 0;
    for (let i = 0; i < 20_000; i++) s += sampleLength({ kind: 'lognormal', mean: 500, sigma: 0.5 }, r);
    expect(s / 20_000).toBeGreaterThan(480);
    expect(s / 20_000).toBeLessThan(520);
  });
});

describe('datasets', () => {
  it('synthetic prompts have exactly the sampled number of words and are seeded', () => {
    const a = syntheticItems({
      count: 50,
      input: { kind: 'uniform', min: 5, max: 300 },
      output: { kind: 'fixed', value: 7 },
      seed: 3,
    });
    const b = syntheticItems({
      count: 50,
      input: { kind: 'uniform', min: 5, max: 300 },
      output: { kind: 'fixed', value: 7 },
      seed: 3,
    });
    expect(a).toEqual(b);
    for (const it of a) {
      expect(countWords(it.prompt)).toBe(it.promptTokens);
      expect(it.prompt.split(' ').every((w) => WORDS.includes(w))).toBe(true);
      expect(it.outputTokens).toBe(7);
    }
    const c = syntheticItems({
      count: 50,
      input: { kind: 'uniform', min: 5, max: 300 },
      output: { kind: 'fixed', value: 7 },
      seed: 4,
    });
    expect(c[0]!.prompt).not.toBe(a[0]!.prompt);
  });

  it('the five W3 suites have their sizes and classes', () => {
    expect(suiteItems('quick_test', 0)).toHaveLength(100);
    expect(suiteItems('medium_balanced', 0)).toHaveLength(500);
    expect(suiteItems('large_throughput', 0)).toHaveLength(1000);
    const short = suiteItems('short_latency', 0);
    expect(short).toHaveLength(500);
    expect(short.every((i) => i.class === 'short' && i.promptTokens <= 512)).toBe(true);
    const long = suiteItems('long_context', 0);
    expect(long).toHaveLength(300);
    expect(long.every((i) => i.class === 'long' && i.promptTokens >= 4096)).toBe(true);
    const st = datasetStats(suiteItems('quick_test', 0));
    expect(st.classes).toEqual({ short: 40, medium: 40, long: 20 });
  });

  it('prefix groups share exactly P leading tokens', () => {
    const items = prefixItems({
      groups: 3,
      promptsPerGroup: 4,
      prefixTokens: 20,
      suffix: { kind: 'fixed', value: 5 },
      output: { kind: 'fixed', value: 8 },
      seed: 1,
    });
    expect(items).toHaveLength(12);
    const head = (s: string) => s.split(' ').slice(0, 20).join(' ');
    for (const it of items) {
      expect(head(it.prompt)).toBe(head(items[it.group!]!.prompt));
      expect(countWords(it.prompt)).toBe(25);
    }
    expect(head(items[0]!.prompt)).not.toBe(head(items[1]!.prompt));
  });

  it('reads ShareGPT (JSON and JSONL) and plain JSONL of prompts or messages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-ds-'));
    const conv = (h: string, g: string) => ({
      conversations: [
        { from: 'human', value: h },
        { from: 'gpt', value: g },
      ],
    });
    const recs = [
      conv('one two three four five', 'a b c d e f'),
      conv('hi', 'too short'),
      conv('w x y z q', 'p q r s'),
    ];
    writeFileSync(join(dir, 's.json'), JSON.stringify(recs));
    writeFileSync(join(dir, 's.jsonl'), recs.map((r) => JSON.stringify(r)).join('\n'));
    for (const f of ['s.json', 's.jsonl']) {
      const items = loadShareGpt(join(dir, f), { seed: 0 });
      expect(items).toHaveLength(2);
      expect(items.map((i) => i.outputTokens).sort()).toEqual([4, 6]);
    }
    writeFileSync(
      join(dir, 'p.jsonl'),
      `{"prompt": "a b c", "output_tokens": 9}\n{"messages": [{"role": "user", "content": "x y"}]}\n"plain text line"\n`,
    );
    const p = loadJsonl(join(dir, 'p.jsonl'), { seed: 0, defaultOutputTokens: 5 });
    expect(p.map((i) => [i.promptTokens, i.outputTokens])).toEqual([
      [3, 9],
      [2, 5],
      [3, 5],
    ]);
    expect(p[1]!.messages).toHaveLength(1);
    writeFileSync(join(dir, 'bad.jsonl'), '{"prompt": "a"}\n{oops\n');
    expect(() => loadJsonl(join(dir, 'bad.jsonl'), { seed: 0, defaultOutputTokens: 5 })).toThrow(
      /bad.jsonl:2/,
    );
  });

  it('buildWorkload follows vLLM random flags and names bad flags', () => {
    const w = buildWorkload({
      seed: 0,
      count: 200,
      randomInputLen: 100,
      randomOutputLen: 50,
      randomRangeRatio: 0.5,
    });
    expect(w.items).toHaveLength(200);
    expect(w.items.every((i) => i.promptTokens >= 50 && i.promptTokens <= 150)).toBe(true);
    expect(w.description).toContain('uniform:50-150');
    expect(() => buildWorkload({ seed: 0, suite: 'nope' })).toThrow(/--suite "nope"/);
    expect(() => buildWorkload({ seed: 0, datasetName: 'sharegpt' })).toThrow(/--dataset-path/);
    expect(() => buildWorkload({ seed: 0, count: 0 })).toThrow(/--num-prompts/);
  });
});

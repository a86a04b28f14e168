/** `bench --sweep` through runMain on the embedded simulator: stage lines, one table, fresh prompts. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const sweep = (dir: string, more: string[] = []) => [
  'bench',
  '--sweep',
  'c1,c2',
  '--num-prompts',
  '6',
  '--random-input-len',
  '64',
  '--random-output-len',
  '8',
  '--workers',
  '0',
  '--no-progress',
  '--out',
  dir,
  ...more,
];

describe('servelab bench --sweep', () => {
  it('says each stage in words, ends with one table of the stages, and draws fresh prompts per stage', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-sweep-')), 'run');
    const c = captureIo();
    expect(await runMain(sweep(dir), c.io)).toBe(EXIT.ok);
    const err = c.err.join('');
    const out = c.out.join('');
    expect(err).toContain('stage 1/2: closed loop, 1 user\n');
    expect(err).toContain('stage 2/2: closed loop, 2 users\n');
    expect(err).not.toContain('{"kind"');
    // no per-stage result blocks without --verbose; one table with a row per stage
    expect(out).not.toContain('Serving Benchmark Result');
    const lines = out.split('\n');
    const head = lines.findIndex((l) => /^stage\s+load\s+ok\/total\s+req\/s/.test(l));
    expect(lines[head]).toMatch(/TTFT p50 ms\s+TTFT p99 ms\s+TPOT p50 ms\s+TPOT p99 ms\s+goodput req\/s/);
    expect(lines[head + 2]).toMatch(/^\s*1\s+closed loop, 1 user\s+6\/6\s/);
    expect(lines[head + 3]).toMatch(/^\s*2\s+closed loop, 2 users\s+6\/6\s/);
    expect(out).toMatch(/prompts: fresh per stage/);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s.promptsPerStage).toMatch(/^fresh per stage/);
    expect(s.stages).toHaveLength(2);
    expect(s.stages[0].stageSeed).toBe(0);
    expect(s.stages[1].stageSeed).not.toBe(0);
    // the two stages sent different prompts
    const recs = readFileSync(join(dir, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.filter((r: { stage: number }) => r.stage === 1)).toHaveLength(6);
  }, 60_000);

  it('--verbose adds the full result block of every stage before the table', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-sweep-')), 'run');
    const c = captureIo();
    expect(await runMain(sweep(dir, ['--verbose']), c.io)).toBe(EXIT.ok);
    expect(c.out.join('').match(/Serving Benchmark Result/g)).toHaveLength(2);
  }, 60_000);
});

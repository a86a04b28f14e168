import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunProgressReader } from './run-progress.js';

describe('RunProgressReader', () => {
  it('counts a bench run incrementally, including a line still being written, and rates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-progress-'));
    const f = join(dir, 'requests.jsonl');
    writeFileSync(f, '{"v":1,"status":"ok"}\n{"v":1,"status":"error"}\n{"v":1,"sta');
    let now = 1_000_000;
    const r = new RunProgressReader(dir, () => now);
    const p1 = r.read()!;
    expect(p1).toMatchObject({ cell: '.', done: 2, errors: 1, counts: { 'requests.jsonl': 2 } });
    expect(p1.perMinRecent).toBeUndefined();
    appendFileSync(f, 'tus":"incomplete"}\n{"v":1,"status":"ok"}\n');
    now += 30_000;
    const p2 = r.read()!;
    expect(p2).toMatchObject({ done: 4, errors: 2 });
    expect(p2.perMinRecent).toBeCloseTo(4, 9);
  });

  it('picks the newest cell of an agent run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-progress-'));
    const { mkdirSync } = await import('node:fs');
    for (const c of ['a/c32/r1', 'a/c64/r1']) mkdirSync(join(dir, c), { recursive: true });
    writeFileSync(join(dir, 'a/c32/r1/tasks.jsonl'), '{"status":"ok"}\n');
    await new Promise((res) => setTimeout(res, 20));
    writeFileSync(
      join(dir, 'a/c64/r1/cell.json'),
      JSON.stringify({ status: 'running', taskSet: { count: 50 } }),
    );
    writeFileSync(join(dir, 'a/c64/r1/tasks.jsonl'), '{"status":"failed"}\n{"status":"ok"}\n');
    const p = new RunProgressReader(dir).read()!;
    expect(p).toMatchObject({
      cell: join('a', 'c64', 'r1'),
      done: 2,
      total: 50,
      errors: 1,
      status: 'running',
    });
    expect(new RunProgressReader(mkdtempSync(join(tmpdir(), 'servelab-empty-'))).read()).toBeUndefined();
  });
});

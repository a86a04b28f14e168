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

  it('steps are orchestrator calls only; a finished cell shows its own rate, not the time since', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-progress-'));
    const t0 = 1_760_000_000_000;
    writeFileSync(
      join(dir, 'cell.json'),
      JSON.stringify({
        status: 'complete',
        startMs: t0 - 120_000,
        endMs: t0 + 70_000,
        taskSet: { count: 4 },
      }),
    );
    // 4 tasks over 60 s (first start t0, last end t0 + 60 s): 3 ok, 1 incomplete
    const tasks = [
      { status: 'ok', startMs: t0, endMs: t0 + 20_000 },
      { status: 'ok', startMs: t0, endMs: t0 + 40_000 },
      { status: 'incomplete', startMs: t0 + 1000, endMs: t0 + 60_000 },
      { status: 'ok', startMs: t0 + 20_000, endMs: t0 + 50_000 },
    ];
    writeFileSync(join(dir, 'tasks.jsonl'), tasks.map((t) => `${JSON.stringify({ v: 1, ...t })}\n`).join(''));
    const kinds = [
      'orchestrator',
      'expert',
      'orchestrator',
      'user',
      'orchestrator',
      'expert',
      'orchestrator',
    ];
    writeFileSync(
      join(dir, 'steps.jsonl'),
      kinds.map((kind) => `${JSON.stringify({ v: 1, kind, status: 'ok' })}\n`).join(''),
    );
    // read an hour after the cell ended: the rate is over its makespan (60 s), not the 3,600 s since
    const p = new RunProgressReader(dir, () => t0 + 3_660_000).read()!;
    expect(p).toMatchObject({
      done: 4,
      ok: 3,
      failed: 0,
      incomplete: 1,
      steps: 4,
      expertCalls: 2,
      userCalls: 1,
    });
    expect(p.spanS).toBe(60);
    expect(p.okPerMin).toBeCloseTo(3, 12);
    expect(p.allPerMin).toBeCloseTo(4, 12);
    expect(p.perMinRecent).toBeUndefined();
  });
});

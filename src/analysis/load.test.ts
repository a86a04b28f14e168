import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoredExtraFields, summarizeCell } from './cell-summary.js';
import { loadRun, parseTimeseriesCsv, readJsonl } from './load.js';
import { writeSyntheticRun } from './testing/synthetic-run.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'servelab-load-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loader', () => {
  it('streams JSONL across read chunks and skips a truncated last line, counting it', async () => {
    const p = join(dir, 'x.jsonl');
    const big = 'y'.repeat(5 << 20); // a line longer than one 4 MiB read
    await writeFile(p, `{"a":1}\n{"a":2,"b":"${big}"}\n\n{"a":3}\n{"a":4,"tru`);
    const seen: number[] = [];
    const r = await readJsonl(p, (v) => seen.push((v as { a: number }).a));
    expect(seen).toEqual([1, 2, 3]);
    expect(r).toEqual({ lines: 4, skipped: 1, lastLineBad: true });
    expect(await readJsonl(join(dir, 'none.jsonl'), () => {})).toBeNull();
  });

  it('parses kv_timeseries.csv, labels with commas included', () => {
    const { samples, skipped } = parseTimeseriesCsv(
      'ts_iso,ts_unix,port,metric,value\n2026-01-01T00:00:00.000Z,1767225600.000,1900,vllm:kv_cache_usage_perc,0.5\n' +
        '2026-01-01T00:00:05.000Z,1767225605.000,1900,servelab_sim_extra_fields_total{model_name="m",field="job_id"},12\nbroken\n',
    );
    expect(skipped).toBe(1);
    expect(samples[0]).toEqual({
      tsMs: 1767225600000,
      port: 1900,
      metric: 'vllm:kv_cache_usage_perc',
      value: 0.5,
    });
    expect(samples[1]!.metric).toBe('servelab_sim_extra_fields_total{model_name="m",field="job_id"}');
    expect(ignoredExtraFields(samples)).toEqual(['job_id']);
    expect(
      ignoredExtraFields([{ tsMs: 0, port: 1, metric: 'servelab_sim_extra_fields_total', value: 3 }]),
    ).toEqual(['*']);
  });

  it('an interrupted run with a truncated steps.jsonl and a missing cell loads and is flagged partial', async () => {
    const run = join(dir, 'run');
    await writeSyntheticRun(run, [
      { arm: 'a', concurrency: 4, rep: 1, tasks: 12, stepsPerTask: 4, kvPlateau: 0.9 },
      {
        arm: 'b',
        concurrency: 4,
        rep: 1,
        tasks: 12,
        stepsPerTask: 4,
        kvPlateau: 0.9,
        status: 'interrupted',
        truncateSteps: true,
      },
    ]);
    // run.json lists a cell that never started
    const rj = JSON.parse(await (await import('node:fs/promises')).readFile(join(run, 'run.json'), 'utf8'));
    rj.cells.push('c/c4/r1');
    await writeFile(join(run, 'run.json'), JSON.stringify(rj));
    await appendFile(join(run, 'a/c4/r1/tasks.jsonl'), '{"v":1,"taskId":"half');
    await writeFile(join(run, 'b/c4/r1/cell.json'), '{"v":1,"arm":"b","concu');
    const loaded = await loadRun(run);
    expect(loaded.kind).toBe('agent');
    if (loaded.kind !== 'agent') return;
    expect(loaded.cells.map((c) => c.id)).toEqual(['a/c4/r1', 'b/c4/r1', 'c/c4/r1']);
    const b = summarizeCell(loaded.cells[1]!);
    expect(b.partial).toBe(true);
    expect(b.partialReasons.join(' ')).toMatch(
      /steps.jsonl: 1 unparsable line\(s\) skipped \(a truncated last line\)/,
    );
    expect(b.partialReasons.join(' ')).toMatch(/a readable cell.json \(it does not parse\) is missing/);
    expect(b.arm).toBe('b'); // from the directory name
    expect(b.counts.tasks).toBe(12);
    const a = summarizeCell(loaded.cells[0]!);
    expect(a.counts.tasks).toBe(12);
    expect(a.partialReasons.join(' ')).toMatch(/tasks.jsonl: 1 unparsable/);
    const c = summarizeCell(loaded.cells[2]!);
    expect(c.partialReasons.join(' ')).toMatch(/the cell directory is missing/);
    expect(c.windows.every((w) => w.okTasksPerMin === null)).toBe(true);
  });

  it('parallel loading (worker threads where the worker loads, else in-thread) gives the same tables', async () => {
    const run = join(dir, 'par');
    await writeSyntheticRun(run, [
      { arm: 'a', concurrency: 4, rep: 1, tasks: 20, stepsPerTask: 4, kvPlateau: 0.9 },
      { arm: 'b', concurrency: 4, rep: 1, tasks: 20, stepsPerTask: 4, kvPlateau: 0.8 },
    ]);
    const seq = await loadRun(run);
    const par = await loadRun(run, { parallelMinBytes: 0 });
    if (seq.kind !== 'agent' || par.kind !== 'agent') throw new Error('not agent');
    for (let i = 0; i < 2; i++) {
      const x = seq.cells[i]!.steps;
      const y = par.cells[i]!.steps;
      expect(y.n).toBe(x.n);
      expect(Array.from(y.endMs)).toEqual(Array.from(x.endMs));
      expect(y.programIds).toEqual(x.programIds);
      expect(summarizeCell(par.cells[i]!).windows).toEqual(summarizeCell(seq.cells[i]!).windows);
    }
  });

  it('a missing run dir is a typed error', async () => {
    await expect(loadRun(join(dir, 'nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

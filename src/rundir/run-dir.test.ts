import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type CellJson,
  readCellForResume,
  readCellJson,
  readEnvironment,
  readRunJson,
  writeCellJson,
  writeCellSummary,
} from './run-dir.js';

const counts = {
  v: 1 as const,
  cell: 'a/c2/r1',
  status: 'complete',
  tasks: { total: 3, ok: 3, failed: 0, incomplete: 0, byReason: {} },
  calls: { orchestrator: 9, expert: 2, user: 0, errors: 0, retries: 0 },
  makespanS: 1.5,
  tasksPerMin: 120,
  stepsPerSec: 6,
  definitions: {},
};

function cell(over: Partial<CellJson> = {}): CellJson {
  return {
    v: 1,
    arm: 'a',
    concurrency: 2,
    rep: 1,
    seed: 0,
    status: 'complete',
    startMs: 1,
    endMs: 2,
    programFields: ['program_id'],
    notes: [],
    counts,
    ...over,
  };
}

describe('the run directory module', () => {
  it('resume reads the counts from cell.json, whatever the analysis wrote into summary.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-rundir-'));
    writeCellJson(join(dir, 'a/c2/r1'), cell());
    // the analysis's summary.json has another shape (no `tasks.ok`): it is not read back
    writeCellSummary(dir, { v: 1, kind: 'agent-cell', id: 'a/c2/r1' });
    expect(readCellForResume(join(dir, 'a/c2/r1'))).toEqual({ status: 'complete', counts });
    expect(readCellForResume(join(dir, 'a/c9/r1'))).toBeNull();
    // no temporary files are left beside what was written
    expect(readdirSync(join(dir, 'a/c2/r1')).sort()).toEqual(['cell.json', 'summary.json']);
  });

  it('a writer refuses a value its schema does not allow (a servelab bug fails at the write)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-rundir-'));
    expect(() => writeCellJson(dir, cell({ status: 'done' as CellJson['status'] }))).toThrow(
      /invalid .*cell\.json: status/,
    );
    expect(() => writeCellSummary(dir, { v: 1, kind: 'bench' as 'agent-cell', id: 'a/c2/r1' })).toThrow(
      /invalid .*summary\.json: kind/,
    );
  });

  it('readers accept partial and older files, keep unknown keys, and name a field of the wrong type', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-rundir-'));
    writeFileSync(join(dir, 'cell.json'), JSON.stringify({ v: 1, arm: 'a', status: 'odd', extra: 5 }));
    expect(readCellJson(dir)).toEqual({ v: 1, arm: 'a', status: 'odd', extra: 5 });
    // a hand-made cell.json of the analysis fixtures: no counts, so resume re-counts nothing
    expect(readCellForResume(dir)).toEqual({ status: 'odd' });
    writeFileSync(join(dir, 'cell.json'), JSON.stringify({ v: 1, concurrency: 'many' }));
    expect(() => readCellJson(dir)).toThrow(/cell\.json is not a servelab cell\.json: concurrency/);
    writeFileSync(join(dir, 'cell.json'), '{"v":1,"arm":"a","conc');
    expect(() => readCellJson(dir)).toThrow(/is not valid JSON/);
    writeFileSync(join(dir, 'environment.json'), JSON.stringify({ servelabVersion: '0.1.0', node: 'v20' }));
    expect(readEnvironment(dir)).toEqual({ servelabVersion: '0.1.0', node: 'v20' });
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ v: 1, kind: 'bench', args: ['--x'] }));
    expect(readRunJson(dir)?.kind).toBe('bench');
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).args).toEqual(['--x']);
  });
});

import { describe, expect, it } from 'vitest';
import { summarizeCell } from './cell-summary.js';
import { compareCells } from './compare.js';
import type { CellMeta } from './run-types.js';
import { cellInput, kvSeries, step, task } from './testing/fixtures.js';

/** A cell whose active window is exactly 60 s, with `n` tasks ending inside it -> n tasks/min, n/60 steps/s. */
function cell(id: string, n: number, meta: CellMeta = {}, failed = 0) {
  const tasks = Array.from({ length: n }, (_, i) =>
    task(
      `t${i}`,
      0,
      1 + (58 * (i + 1)) / (n + 1),
      i < failed ? { status: 'failed', reason: 'max_steps', steps: 1 } : { steps: 1 },
    ),
  );
  const steps = tasks.map((t) => step(t.taskId, 0.5, (t.endMs - 1_700_000_000_000) / 1000));
  return summarizeCell(
    cellInput(id, {
      meta: {
        seed: 1,
        taskSet: { name: 'tau2', count: 278, seed: 1 },
        servers: [{ label: 'orch', version: '0.11.0', flags: ['--enable-auto-tool-choice'] }],
        ...meta,
      },
      kv: kvSeries(1900, 0, 5, Array(13).fill(0.8)), // 0..60 s all above 0.7
      tasks,
      steps,
    }),
  );
}

describe('compare', () => {
  it("the users' table: winner per row and ratio to the baseline (one repetition: no confidence)", () => {
    const cmp = compareCells([cell('baseline/c32/r1', 6), cell('router/c32/r1', 9), cell('ttl/c32/r1', 3)]);
    expect(cmp.baseline).toBe('baseline');
    const row = cmp.rows.find((r) => r.window === 'active' && r.metric === 'tasksPerMin')!;
    expect(row.byArm.baseline!.mean).toBeCloseTo(6, 12);
    expect(row.winner).toBe('router');
    expect(row.ratioToBaseline.router).toBeCloseTo(1.5, 12);
    expect(row.ratioToBaseline.ttl).toBeCloseTo(0.5, 12);
    expect(row.winnerNote).toMatch(/no confidence can be given/);
    const steps = cmp.rows.find((r) => r.window === 'active' && r.metric === 'stepsPerS')!;
    expect(steps.byArm.router!.mean).toBeCloseTo(9 / 60, 12);
    expect(cmp.confounds.some((c) => c.code === 'one-repetition' && c.severity === 'high')).toBe(true);
  });

  it('with repetitions: mean, 95 % CI and Welch significance', () => {
    const cmp = compareCells([
      cell('baseline/c32/r1', 6),
      cell('baseline/c32/r2', 7),
      cell('baseline/c32/r3', 5),
      cell('router/c32/r1', 12),
      cell('router/c32/r2', 13),
      cell('router/c32/r3', 11),
    ]);
    const row = cmp.rows.find((r) => r.window === 'active' && r.metric === 'tasksPerMin')!;
    // mean 6, sd 1, n 3: half-width = t(0.975, 2) / sqrt(3) = 4.302652729749462 / 1.7320508 = 2.4841377
    expect(row.byArm.baseline!.lo).toBeCloseTo(6 - 2.484137754, 6);
    expect(row.byArm.baseline!.hi).toBeCloseTo(6 + 2.484137754, 6);
    expect(row.winner).toBe('router');
    expect(row.winnerTest!.significant).toBe(true);
    expect(row.winnerNote).toMatch(/significant vs baseline \(Welch/);
    expect(cmp.confounds.some((c) => c.code === 'one-repetition')).toBe(false);
  });

  it('loud confounds: versions, task sets, failed tasks, interrupted cell, ignored field, client bottleneck', () => {
    const cmp = compareCells([
      cell('baseline/c32/r1', 6, { programFields: ['program_id', 'job_id'] }),
      cell('router/c32/r1', 9, {
        servers: [{ label: 'orch', version: '0.10.1', flags: ['--enable-auto-tool-choice', '--x'] }],
        notes: ['client bottleneck: event-loop delay 250 ms'],
      }),
      cell(
        'ttl/c32/r1',
        3,
        {
          status: 'interrupted',
          taskSet: { name: 'tau2', count: 114, seed: 2 },
          programFields: ['job_id', 'this_func_call'],
          notes: ['server could not parse the tool name: this_func_call ignored'],
        },
        2,
      ),
    ]);
    const codes = cmp.confounds.map((c) => c.code);
    for (const code of [
      'server-version',
      'server-flags',
      'task-set',
      'failed-tasks',
      'interrupted',
      'field-ignored',
      'client-bottleneck',
      'one-repetition',
    ])
      expect(codes).toContain(code);
    const v = cmp.confounds.find((c) => c.code === 'server-version' && c.severity === 'high')!;
    expect(v.message).toMatch(/0\.10\.1/);
    expect(cmp.confounds[0]!.severity).toBe('high');
    expect(cmp.confounds.find((c) => c.code === 'failed-tasks')!.message).toMatch(/ttl 2/);
  });

  it('object flags: placement (name, port) is not a confound, configuration is', () => {
    const a = cell('baseline/c32/r1', 3, {
      servers: [
        { label: 'o', version: '0.11.0', flags: { name: 'orch', port: 1900, gpuMemoryUtilization: 0.95 } },
      ],
    });
    const b = cell('router/c32/r1', 3, {
      servers: [
        { label: 'o', version: '0.11.0', flags: { name: 'orch-r', port: 1901, gpuMemoryUtilization: 0.95 } },
      ],
    });
    expect(compareCells([a, b]).confounds.some((c) => c.code === 'server-flags')).toBe(false);
    const c = cell('router/c32/r1', 3, {
      servers: [
        { label: 'o', version: '0.11.0', flags: { name: 'orch-r', port: 1901, gpuMemoryUtilization: 0.9 } },
      ],
    });
    const f = compareCells([a, c]).confounds.find((x) => x.code === 'server-flags')!;
    expect(f.message).toMatch(/gpuMemoryUtilization=0.9\b/);
    const v = cell('router/c32/r1', 3, { servers: [{ label: 'o', version: 'unknown' }] });
    expect(compareCells([a, v]).confounds.find((x) => x.code === 'server-version')!.message).toMatch(
      /not recorded/,
    );
  });

  it('a field the simulator counted as an unknown extra is reported as never acted on', () => {
    const c = cell('ttl/c32/r1', 3, { programFields: ['job_id'] });
    c.context.extraFieldsIgnored = ['job_id'];
    const cmp = compareCells([cell('baseline/c32/r1', 3), c]);
    const f = cmp.confounds.find((x) => x.code === 'field-ignored')!;
    expect(f.message).toMatch(/ttl.*job_id.*unknown extra/);
    // the sampler's unlabelled sum says some field was ignored, not which
    const d = cell('ttl/c32/r1', 3, { programFields: ['job_id', 'this_func_call'] });
    d.context.extraFieldsIgnored = ['*'];
    const m = compareCells([cell('baseline/c32/r1', 3), d]).confounds.find(
      (x) => x.code === 'field-ignored',
    )!;
    expect(m.message).toMatch(/job_id, this_func_call.*does not say which/);
  });
});

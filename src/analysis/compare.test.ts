import { describe, expect, it } from 'vitest';
import type { ReleaseResult } from '../agent/records.js';
import { summarizeCell } from './cell-summary.js';
import { compareCells } from './compare.js';
import type { CellMeta } from './run-types.js';
import { cellInput, kvSeries, step, task } from './testing/fixtures.js';

/** A cell whose active window is exactly 60 s, with `n` tasks ending inside it -> n tasks/min, n/60 steps/s. */
function cell(
  id: string,
  n: number,
  meta: CellMeta = {},
  failed = 0,
  incomplete = 0,
  release?: (i: number) => ReleaseResult,
) {
  const tasks = Array.from({ length: n }, (_, i) => ({
    ...task(
      `t${i}`,
      0,
      1 + (58 * (i + 1)) / (n + 1),
      i < failed
        ? { status: 'failed', reason: 'max_steps', steps: 1 }
        : i < failed + incomplete
          ? { status: 'incomplete', reason: 'interrupted', steps: 1 }
          : { steps: 1 },
    ),
    ...(release ? { release: release(i) } : {}),
  }));
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
    const row = cmp.rows.find((r) => r.window === 'active' && r.metric === 'okTasksPerMin')!;
    expect(row.byArm.baseline!.mean).toBeCloseTo(6, 12);
    expect(row.winner).toBe('router');
    expect(row.ratioToBaseline.router).toBeCloseTo(1.5, 12);
    expect(row.ratioToBaseline.ttl).toBeCloseTo(0.5, 12);
    expect(row.winnerNote).toMatch(/no confidence can be given/);
    const steps = cmp.rows.find((r) => r.window === 'active' && r.metric === 'okStepsPerS')!;
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
    const row = cmp.rows.find((r) => r.window === 'active' && r.metric === 'okTasksPerMin')!;
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

  it('the winner is named on ok tasks/min: failed tasks are not throughput', () => {
    // "fast" ends 12 tasks in the window but 6 failed; "steady" ends 8, all ok
    const cmp = compareCells([cell('fast/c32/r1', 12, {}, 6), cell('steady/c32/r1', 8)]);
    const ok = cmp.rows.find((r) => r.window === 'active' && r.metric === 'okTasksPerMin')!;
    const all = cmp.rows.find((r) => r.window === 'active' && r.metric === 'allTasksPerMin')!;
    expect(ok.byArm.fast!.mean).toBeCloseTo(6, 12);
    expect(all.byArm.fast!.mean).toBeCloseTo(12, 12);
    expect(ok.winner).toBe('steady');
    expect(all.winner).toBe('fast');
    expect(cmp.rows[0]!.metric).toBe('okTasksPerMin');
  });

  it('incomplete tasks are not called failed', () => {
    const cmp = compareCells([cell('baseline/c32/r1', 12), cell('router/c32/r1', 12, {}, 0, 9)]);
    expect(cmp.confounds.some((c) => c.code === 'failed-tasks')).toBe(false);
    const inc = cmp.confounds.find((c) => c.code === 'incomplete-tasks')!;
    expect(inc.message).toMatch(/unequal incomplete-task counts .*baseline 0, router 9/);
    const both = compareCells([cell('baseline/c32/r1', 12, {}, 1), cell('router/c32/r1', 12, {}, 3, 2)]);
    expect(both.confounds.find((c) => c.code === 'failed-tasks')!.message).toMatch(/baseline 1, router 3/);
    expect(both.confounds.find((c) => c.code === 'incomplete-tasks')!.message).toMatch(
      /baseline 0, router 2/,
    );
  });

  it('one arm name in two run dirs with different server versions: two arms, flagged, not pooled', () => {
    const a = cell('agent/c32/r1', 6, { servers: [{ label: 'orch', version: '0.11.0' }] });
    const b = cell('agent/c32/r1', 9, { servers: [{ label: 'orch', version: '0.10.2' }] });
    a.source = 'agent-20261201T100000Z';
    b.source = 'agent-20261202T100000Z';
    const cmp = compareCells([a, b]);
    expect(cmp.arms).toEqual(['agent@agent-20261201T100000Z', 'agent@agent-20261202T100000Z']);
    const split = cmp.confounds.find((c) => c.code === 'arm-split')!;
    expect(split.severity).toBe('high');
    expect(split.message).toMatch(
      /arm "agent" ran different servers.*version 0\.11\.0.*version 0\.10\.2.*not pooled/,
    );
    expect(cmp.confounds.some((c) => c.code === 'server-version' && c.severity === 'high')).toBe(true);
    const row = cmp.rows.find((r) => r.window === 'active' && r.metric === 'okTasksPerMin')!;
    expect(row.byArm['agent@agent-20261201T100000Z']!.n).toBe(1);
    // --baseline names the arm as the user knows it: its first part
    expect(compareCells([a, b], { baseline: 'agent' }).baseline).toBe('agent@agent-20261201T100000Z');
    // the same servers in both runs: repetitions of one arm
    const c = cell('agent/c32/r1', 8, { servers: [{ label: 'orch', version: '0.11.0' }] });
    c.source = 'agent-20261203T100000Z';
    const pooled = compareCells([a, c]);
    expect(pooled.arms).toEqual(['agent']);
    expect(
      pooled.rows.find((r) => r.window === 'active' && r.metric === 'okTasksPerMin')!.byArm.agent!.n,
    ).toBe(2);
    expect(pooled.confounds.some((x) => x.code === 'arm-split')).toBe(false);
  });

  it('releases answered 404 on every call: the arm asked for release, the server has no endpoint', () => {
    const url = 'http://127.0.0.1:1900/programs/release';
    const notes = Array.from({ length: 6 }, (_, i) => `release of p-t${i}: HTTP 404 from ${url}`);
    const cmp = compareCells([cell('baseline/c32/r1', 6), cell('ttl/c32/r1', 6, { releaseUrl: url, notes })]);
    const r = cmp.confounds.find((c) => c.code === 'release-unsupported')!;
    expect(r.severity).toBe('high');
    expect(r.message).toBe(
      `arm "ttl": the arm asked for release (POST ${url}); the server has no release endpoint: HTTP 404 on 6 of 6 program releases. Whatever this arm's release was meant to change did not happen.`,
    );
    // some failures, not all: a medium warning with the statuses
    const some = compareCells([
      cell('ttl/c32/r1', 6, {
        releaseUrl: url,
        notes: [`release of p-t0: HTTP 500 from ${url}`, 'release of p-t1 failed: fetch failed'],
      }),
    ]).confounds.find((c) => c.code === 'release-failed')!;
    expect(some.message).toMatch(/2 of 6 program releases .*HTTP 500: 1, error: 1/);
    // an arm that did not ask: nothing
    expect(cmp.confounds.some((c) => c.code === 'release-failed' && /baseline/.test(c.message))).toBe(false);
  });

  it('release outcomes read from the task records: the 404 confound fires whatever the notes say', () => {
    const url = 'http://127.0.0.1:1900/programs/release';
    // notes in other words than "release of X: HTTP N from URL" (a later wording, or none at all)
    const notes = Array.from({ length: 6 }, (_, i) => `could not release program p-t${i} (server said 404)`);
    const all404 = (_i: number): ReleaseResult => ({ ok: false, httpStatus: 404 });
    const cmp = compareCells([
      cell('baseline/c32/r1', 6),
      cell('ttl/c32/r1', 6, { releaseUrl: url, notes }, 0, 0, all404),
      cell('ttl/c32/r2', 6, {}, 0, 0, all404),
    ]);
    const r = cmp.confounds.find((c) => c.code === 'release-unsupported')!;
    expect(r?.message).toBe(
      `arm "ttl": the arm asked for release (POST ${url}); the server has no release endpoint: HTTP 404 on 12 of 12 program releases. Whatever this arm's release was meant to change did not happen.`,
    );
    // the records count what was sent and how each went: 1 of 6 got no answer
    const mixed = compareCells([
      {
        ...cell('ttl/c32/r1', 6, { releaseUrl: url, notes: [] }, 0, 0, (i) =>
          i === 0 ? { ok: false } : { ok: true, httpStatus: 200 },
        ),
      },
    ]).confounds.find((c) => c.code === 'release-failed')!;
    expect(mixed.message).toMatch(/1 of 6 program releases .*error: 1/);
    const some = summarizeCell(
      cellInput('ttl/c32/r1', {
        meta: { releaseUrl: url },
        tasks: [
          task('a', 0, 1, { release: { ok: true, httpStatus: 200 } }),
          task('b', 0, 2, { release: { ok: false, httpStatus: 503 } }),
          task('c', 0, 3),
        ],
      }),
    ).context.release;
    expect(some).toEqual({ url, sent: 2, failures: 1, byStatus: { 'HTTP 503': 1 }, source: 'records' });
  });

  it('an old run (no release in its records) is still read from its notes', () => {
    const url = 'http://127.0.0.1:1900/programs/release';
    const c = cell('ttl/c32/r1', 2, { releaseUrl: url, notes: [`release of p-t0: HTTP 404 from ${url}`] });
    expect(c.context.release).toEqual({
      url,
      sent: null,
      failures: 1,
      byStatus: { 'HTTP 404': 1 },
      source: 'notes',
    });
  });
});

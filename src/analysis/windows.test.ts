import { describe, expect, it } from 'vitest';
import { summarizeCell } from './cell-summary.js';
import { activeWindow } from './kv-window.js';
import { cellInput, kvSeries, step, T0, task } from './testing/fixtures.js';
import { parseWindowSpec } from './windows.js';

// KV every 5 s from t=0: above 0.7 at t=10, 15, 25, 30 -> window [10 s, 30 s], 20 s long
const KV = kvSeries(1900, 0, 5, [0.1, 0.5, 0.75, 0.8, 0.6, 0.9, 0.72, 0.3, 0.2]);

function base() {
  return cellInput('baseline/c2/r1', {
    kv: KV,
    tasks: [
      task('a', 0, 9), // ends before the window
      task('b', 0, 10), // ends at the start: counts
      task('c', 9, 20),
      task('d', 10, 30, { status: 'failed', reason: 'context_length' }), // ends at the end: counts
      task('e', 20, 31), // after
      task('f', 31, 45), // dispatched after the window; last dispatch at 31 s
    ],
    steps: [
      step('b', 9, 10),
      step('c', 11, 12),
      step('c', 12.5, 14),
      step('c', 14, 15, { kind: 'expert', expert: 'expert-1' }),
      step('c', 15, 15.5, { kind: 'user' }),
      step('d', 28, 29),
      step('d', 29.5, 30),
      step('e', 29, 30.001),
      step('a', 1, 2),
    ],
  });
}

describe('active window (hand-computed)', () => {
  it('first to last sample above 0.7, with the dip inside counted', () => {
    const w = activeWindow(KV);
    expect(w.status).toBe('ok');
    expect(w.startMs).toBe(T0 + 10_000);
    expect(w.endMs).toBe(T0 + 30_000);
    expect(w.samplesAbove).toBe(4);
    expect(w.dipsInside).toBe(1);
    expect(w.port).toBe(1900);
    expect(w.medianIntervalS).toBe(5);
  });

  it('counts tasks that END inside and orchestrator calls that END inside', () => {
    const s = summarizeCell(base());
    const a = s.windows.find((w) => w.kind === 'active')!;
    expect(a.durationS).toBe(20);
    expect(a.tasksEnded).toBe(3); // b (10 s), c (20 s), d (30 s)
    expect(a.tasksOk).toBe(2);
    expect(a.allTasksPerMin).toBeCloseTo(9, 12); // 3 / (20/60)
    expect(a.okTasksPerMin).toBeCloseTo(6, 12);
    expect(a.tasksFailed).toBe(1);
    expect(a.tasksIncomplete).toBe(0);
    expect(a.stepsEnded).toBe(5); // ends at 10, 12, 14, 29, 30 (not 30.001, not the expert/user calls)
    expect(a.stepsOk).toBe(5);
    expect(a.allStepsPerS).toBeCloseTo(0.25, 12);
    expect(a.okStepsPerS).toBeCloseTo(0.25, 12);
    expect(a.expertCalls).toBe(1);
    expect(a.userCalls).toBe(1);
    expect(s.countingRule).toMatch(/ENDS inside/);
    expect(s.countingRule).toMatch(/orchestrator LLM calls only/);
    expect(s.counts.orchestratorSteps).toBe(7);
    expect(s.counts.expertCalls).toBe(1);
    expect(s.counts.userCalls).toBe(1);
  });

  it('ramp-up, tail and tail tasks', () => {
    const s = summarizeCell(base());
    expect(s.outside.rampUpS).toBe(10);
    expect(s.outside.tailS).toBe(15); // 30 s -> 45 s
    expect(s.outside.tailTaskCount).toBe(2);
    expect(s.outside.tailTasks[0]).toMatchObject({
      taskId: 'f',
      afterWindowS: 15,
      durationS: 14,
      startedAfterWindow: true,
    });
    expect(s.outside.tailTasks[1]).toMatchObject({ taskId: 'e', afterWindowS: 1, startedAfterWindow: false });
  });

  it('client-side window: C=2 in flight from t=0 (a and b), last dispatch 31 s', () => {
    const s = summarizeCell(base());
    const c = s.windows.find((w) => w.kind === 'client')!;
    // at t=0 a and b start -> 2 in flight = C
    expect(c.startMs).toBe(T0);
    expect(c.endMs).toBe(T0 + 31_000);
    expect(c.tasksEnded).toBe(5); // ends at 9, 10, 20, 30, 31
    expect(c.allTasksPerMin).toBeCloseTo(5 / (31 / 60), 12);
    expect(c.okTasksPerMin).toBeCloseTo(4 / (31 / 60), 12);
    const m = s.windows.find((w) => w.kind === 'makespan')!;
    expect(m.durationS).toBe(45);
    expect(m.tasksEnded).toBe(6);
  });

  it('fixed offsets relative to the first dispatch, clipped at the run end', () => {
    const s = summarizeCell(base(), { window: parseWindowSpec('5s..20s')! });
    const f = s.windows.find((w) => w.kind === 'fixed')!;
    expect(f.durationS).toBe(15);
    expect(f.tasksEnded).toBe(3); // ends at 9, 10, 20
    const g = summarizeCell(base(), { window: parseWindowSpec('40s..100s')! }).windows.find(
      (w) => w.kind === 'fixed',
    )!;
    expect(g.durationS).toBe(5); // clipped at the last end (45 s)
    expect(g.note).toMatch(/clipped/);
    expect(g.tasksEnded).toBe(1);
    const h = summarizeCell(base(), { window: parseWindowSpec('50s..100s')! }).windows.find(
      (w) => w.kind === 'fixed',
    )!;
    expect(h.status).toBe('none');
    expect(h.okTasksPerMin).toBeNull();
    expect(h.allTasksPerMin).toBeNull();
  });

  it('completion-time percentiles over ok tasks and over all', () => {
    const s = summarizeCell(base());
    // ok durations: 9, 10, 11, 11, 14 -> p50 11; numpy p90 of [9,10,11,11,14] = 11 + 0.6*3 = 12.8
    expect(s.completionTimeS.ok.count).toBe(5);
    expect(s.completionTimeS.ok.p50).toBe(11);
    expect(s.completionTimeS.ok.p90).toBeCloseTo(12.8, 12);
    expect(s.completionTimeS.all.count).toBe(6);
    expect(s.failuresByReason).toEqual({ 'failed: context_length': 1 });
  });
});

describe('active window edge cases', () => {
  it('never above the threshold: no window, no numbers', () => {
    const c = base();
    c.kv = kvSeries(1900, 0, 5, [0.1, 0.2, 0.7, 0.3]); // 0.7 is not ABOVE 0.7
    const s = summarizeCell(c);
    const a = s.windows.find((w) => w.kind === 'active')!;
    expect(s.kv.status).toBe('never-above');
    expect(a.status).toBe('none');
    expect(a.okTasksPerMin).toBeNull();
    expect(a.allTasksPerMin).toBeNull();
    expect(a.okStepsPerS).toBeNull();
    expect(a.allStepsPerS).toBeNull();
    expect(a.note).toMatch(/never went above 0.7/);
    expect(s.outside.rampUpS).toBeNull();
  });

  it('a single sample above: zero-length window, no rate', () => {
    const c = base();
    c.kv = kvSeries(1900, 0, 5, [0.1, 0.9, 0.3]);
    const s = summarizeCell(c);
    const a = s.windows.find((w) => w.kind === 'active')!;
    expect(a.status).toBe('zero-length');
    expect(a.durationS).toBe(0);
    expect(a.okTasksPerMin).toBeNull();
  });

  it('samples out of order are sorted, and counted', () => {
    const shuffled = [KV[5]!, KV[0]!, KV[3]!, KV[8]!, KV[2]!, KV[1]!, KV[6]!, KV[4]!, KV[7]!];
    const w = activeWindow(shuffled);
    expect(w.startMs).toBe(T0 + 10_000);
    expect(w.endMs).toBe(T0 + 30_000);
    expect(w.outOfOrder).toBeGreaterThan(0);
  });

  it('gaps in sampling are reported', () => {
    const kv = [...kvSeries(1900, 0, 5, [0.1, 0.8, 0.9]), ...kvSeries(1900, 100, 5, [0.8, 0.2])];
    const w = activeWindow(kv);
    expect(w.startMs).toBe(T0 + 5_000);
    expect(w.endMs).toBe(T0 + 100_000);
    expect(w.maxGapS).toBe(90);
    expect(w.longGaps).toBe(1);
  });

  it('port: the flag, else the orchestrator port, else the most-sampled port', () => {
    const kv = [...kvSeries(1900, 0, 5, [0.9, 0.9]), ...kvSeries(1910, 0, 1, [0.1, 0.2, 0.9, 0.95, 0.1])];
    expect(activeWindow(kv, { orchestratorPort: 1900 }).port).toBe(1900);
    expect(activeWindow(kv).portSource).toBe('most-sampled');
    expect(activeWindow(kv).port).toBe(1910);
    const f = activeWindow(kv, { port: 1910 });
    expect(f.portSource).toBe('flag');
    expect(f.endMs).toBe(T0 + 3_000);
  });

  it('a router arm: orchestrator port unsampled, several backend ports: says which port it used', () => {
    const c = base();
    c.meta.orchestratorPort = 1800;
    c.kv = [...kvSeries(1900, 0, 5, [0.1, 0.8, 0.9, 0.2]), ...kvSeries(1901, 0, 5, [0.1, 0.2])];
    const s = summarizeCell(c);
    expect(s.kv.port).toBe(1900);
    expect(s.warnings.join(' ')).toMatch(
      /uses port 1900 only .*orchestrator's port 1800 has no KV samples.*also sampled on 1901/,
    );
  });

  it('a file in percents is read as percents / 100; SGLang token usage is KV usage', () => {
    const pct = KV.map((x) => ({ ...x, value: x.value * 100 }));
    const w = activeWindow(pct);
    expect(w.percentScaled).toBe(true);
    expect([w.status, w.startMs, w.endMs, w.samplesAbove]).toEqual(['ok', T0 + 10_000, T0 + 30_000, 4]);
    expect(w.peakValue).toBeCloseTo(0.9, 12);
    const c = base();
    c.kv = pct;
    expect(summarizeCell(c).warnings.join(' ')).toMatch(/holds percents, read as 0-1 fractions/);
    expect(activeWindow(KV).percentScaled).toBe(false);
    const sg = activeWindow(KV.map((x) => ({ ...x, metric: 'sglang:token_usage' })));
    expect([sg.status, sg.startMs]).toEqual(['ok', T0 + 10_000]);
  });

  it('older vLLM metric name is accepted', () => {
    const kv = KV.map((s) => ({ ...s, metric: 'vllm:gpu_cache_usage_perc' }));
    expect(activeWindow(kv).status).toBe('ok');
  });

  it('a run with no finished task', () => {
    const c = cellInput('baseline/c2/r1', {
      meta: { status: 'interrupted' },
      kv: KV,
      steps: [step('x', 1, 12), step('x', 13, 20)],
    });
    const s = summarizeCell(c);
    const a = s.windows.find((w) => w.kind === 'active')!;
    expect(a.tasksEnded).toBe(0);
    expect(a.okTasksPerMin).toBe(0);
    expect(a.allTasksPerMin).toBe(0);
    expect(a.stepsEnded).toBe(2);
    expect(s.completionTimeS.ok.count).toBe(0);
    expect(s.completionTimeS.ok.p50).toBeNull();
    expect(s.partial).toBe(true);
    expect(s.partialReasons.join(' ')).toMatch(/interrupted/);
    expect(s.partialReasons.join(' ')).toMatch(/1 program\(s\) have steps but no task record/);
    expect(s.warnings.join(' ')).toMatch(/no task finished/);
  });

  it('client window: never C in flight -> no window; makespan still has a rate', () => {
    const c = cellInput('baseline/c4/r1', { kv: KV, tasks: [task('a', 0, 10), task('b', 11, 20)] });
    const s = summarizeCell(c);
    const w = s.windows.find((x) => x.kind === 'client')!;
    expect(w.status).toBe('none');
    expect(w.note).toMatch(/never 4 programs in flight/);
    expect(w.okTasksPerMin).toBeNull();
    expect(s.windows.find((x) => x.kind === 'makespan')!.okTasksPerMin).toBeCloseTo(2 / (20 / 60), 12);
  });

  it('a retried context-length error and a step-count mismatch are warned about', () => {
    const c = cellInput('baseline/c1/r1', {
      kv: KV,
      tasks: [task('a', 0, 10, { steps: 3, status: 'failed', reason: 'context_length' })],
      steps: [step('a', 1, 2), step('a', 3, 4, { status: 'error', errorKind: 'context_length', retries: 5 })],
    });
    const s = summarizeCell(c);
    expect(s.counts.contextLengthErrors).toBe(1);
    expect(s.warnings.join(' ')).toMatch(/context-length error\(s\) were retried/);
    expect(s.warnings.join(' ')).toMatch(
      /tasks.jsonl reports 3 steps but steps.jsonl holds 2 orchestrator calls/,
    );
  });

  it('an interrupted cell with no ok task has 0 ok tasks/min in every window; all-ended beside it', () => {
    // 4 tasks cut by Ctrl-C at 20 s (incomplete), 1 failed; a failed call among the steps
    const cut = { status: 'incomplete' as const, reason: 'interrupted' };
    const c = cellInput('baseline/c4/r1', {
      meta: { status: 'interrupted' },
      kv: kvSeries(1900, 0, 5, [0.1, 0.8, 0.9, 0.95, 0.9]),
      tasks: [
        task('a', 0, 20, cut),
        task('b', 0, 20, cut),
        task('c', 0, 20, cut),
        task('d', 1, 20, cut),
        task('e', 0, 12, { status: 'failed', reason: 'error:server_error' }),
      ],
      steps: [
        step('a', 1, 6),
        step('b', 1, 11),
        step('e', 2, 12, { status: 'error', errorKind: 'server_error' }),
        step('c', 1, 15),
      ],
    });
    const s = summarizeCell(c, { window: parseWindowSpec('0s..20s')! });
    expect(s.windows.map((w) => w.kind)).toEqual(['active', 'client', 'fixed', 'makespan']);
    for (const w of s.windows) {
      if (w.status !== 'ok') continue;
      expect(w.tasksOk, w.kind).toBe(0);
      expect(w.okTasksPerMin, w.kind).toBe(0);
    }
    // the active window (5 s..20 s) holds the burst of tasks cut at 20 s: 5 ended, 0 ok
    const a = s.windows.find((w) => w.kind === 'active')!;
    expect([a.tasksEnded, a.okTasksPerMin, a.allTasksPerMin]).toEqual([5, 0, 20]);
    const m = s.windows.find((w) => w.kind === 'makespan')!;
    expect(m.durationS).toBe(20);
    expect([m.tasksOk, m.tasksFailed, m.tasksIncomplete, m.tasksEnded]).toEqual([0, 1, 4, 5]);
    expect(m.allTasksPerMin).toBeCloseTo(15, 12); // 5 / (20/60)
    expect(m.stepsEnded).toBe(4);
    expect(m.stepsOk).toBe(3); // the failed call is not ok work
    expect(m.okStepsPerS).toBeCloseTo(0.15, 12);
    expect(m.allStepsPerS).toBeCloseTo(0.2, 12);
    expect(s.warnings.join(' ')).toMatch(/1 failed, 4 incomplete/);
  });

  it('window spec parsing', () => {
    expect(parseWindowSpec('600s..7800s')).toEqual({ fromS: 600, toS: 7800 });
    expect(parseWindowSpec('10m..70m')).toEqual({ fromS: 600, toS: 4200 });
    expect(parseWindowSpec('600..7800')).toEqual({ fromS: 600, toS: 7800 });
    expect(parseWindowSpec('70m..10m')).toBeNull();
    expect(parseWindowSpec('abc')).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { slotGroups, type WorkItem } from './driver.js';
import { estimateTokens, trimMiddle } from './history.js';
import { EndpointPool } from './pool.js';
import { backoffMs, callWithRetry } from './retry.js';
import { generateTasks } from './taskset.js';
import { callResult, hangingTransport } from './testing/calls.js';
import { liveItems, testProgramContext } from './testing/program-context.js';

const eps = [0, 1, 2].map((i) => ({
  baseUrl: `http://127.0.0.1:${1910 + i}/v1`,
  model: 'm',
  label: `r${i}`,
}));

describe('endpoint pools', () => {
  it('random choice is seeded and covers every replica', () => {
    const seq = (seed: number) => {
      const p = new EndpointPool('m', eps, 'random', seed);
      return Array.from({ length: 60 }, () => {
        const l = p.acquire();
        l.release();
        return l.endpoint.label;
      });
    };
    expect(seq(7)).toEqual(seq(7));
    expect(seq(7)).not.toEqual(seq(8));
    expect(new Set(seq(7)).size).toBe(3);
  });

  it('round-robin cycles; least-outstanding avoids busy replicas', () => {
    const rr = new EndpointPool('m', eps, 'round-robin', 0);
    expect([0, 1, 2, 3].map(() => rr.acquire().endpoint.label)).toEqual(['r0', 'r1', 'r2', 'r0']);
    const lo = new EndpointPool('m', eps, 'least-outstanding', 0);
    const a = lo.acquire();
    const b = lo.acquire();
    expect(b.endpoint.label).not.toBe(a.endpoint.label);
    const c = lo.acquire();
    expect(new Set([a, b, c].map((l) => l.endpoint.label)).size).toBe(3);
    b.release();
    expect(lo.acquire().endpoint.label).toBe(b.endpoint.label);
  });
});

describe('task generator', () => {
  it('has the tau2-bench domain sizes and is deterministic in content and order', () => {
    const all = generateTasks({ seed: 3, scale: 1, overrides: {} });
    expect(all).toHaveLength(278);
    const count = (d: string) => all.filter((t) => t.domain === d).length;
    expect([count('retail'), count('telecom'), count('airline')]).toEqual([114, 114, 50]);
    expect(generateTasks({ seed: 3, scale: 1, overrides: {} })).toEqual(all);
    expect(generateTasks({ seed: 4, scale: 1, overrides: {} }).map((t) => t.id)).not.toEqual(
      all.map((t) => t.id),
    );
  });

  it('scales, counts and takes overrides', () => {
    expect(generateTasks({ seed: 1, scale: 0.1, overrides: {} })).toHaveLength(11 + 11 + 5);
    const few = generateTasks({
      seed: 1,
      scale: 1,
      count: 5,
      overrides: { retail: { userTurns: { min: 0, max: 0 } } },
    });
    expect(few).toHaveLength(5);
    const retail = generateTasks({
      seed: 1,
      scale: 1,
      domains: ['retail'],
      overrides: { retail: { tasks: 3, userTurns: { min: 0, max: 0 } } },
    });
    expect(retail.map((t) => t.userTurns)).toEqual([0, 0, 0]);
  });
});

const fail = (kind: 'server_error' | 'context_length' | 'refused', retryable: boolean) =>
  callResult({ status: 'error', error: { kind, message: kind, retryable } });

describe('retry policy', () => {
  const policy = { maxAttempts: 4, baseMs: 1, capMs: 4 };

  it('never retries context_length, even when marked retryable', async () => {
    let n = 0;
    const r = await callWithRetry(async () => {
      n++;
      return fail('context_length', true);
    }, policy);
    expect(n).toBe(1);
    expect(r.retries).toBe(0);
    expect(r.result.error?.kind).toBe('context_length');
  });

  it('retries a 503 and succeeds', async () => {
    let n = 0;
    const r = await callWithRetry(
      async () => (n++ < 2 ? fail('server_error', true) : callResult({ text: 'ok' })),
      policy,
    );
    expect(r.result.status).toBe('ok');
    expect(r.retries).toBe(2);
  });

  it('stops at the attempt cap; back-off is exponential and capped', async () => {
    let n = 0;
    const r = await callWithRetry(async () => {
      n++;
      return fail('refused', false);
    }, policy);
    expect(n).toBe(4);
    expect(r.retries).toBe(3);
    expect([0, 1, 2, 3, 4].map((k) => backoffMs(policy, k))).toEqual([1, 2, 4, 4, 4]);
  });
});

describe('history trimming and slots', () => {
  it('keeps system, first user and the most recent messages within the budget', () => {
    const w = (n: number) => Array.from({ length: n }, () => 'word').join(' ');
    const msgs = [
      { role: 'system' as const, content: w(50) },
      { role: 'user' as const, content: w(20) },
      ...Array.from({ length: 20 }, (_, i) => ({
        role: (i % 2 ? 'user' : 'assistant') as 'user' | 'assistant',
        content: w(30),
      })),
    ];
    const t = trimMiddle(msgs, 300);
    expect(t[0]).toBe(msgs[0]);
    expect(t[1]).toBe(msgs[1]);
    expect(t.at(-1)).toBe(msgs.at(-1));
    expect(estimateTokens(t)).toBeLessThanOrEqual(300);
    expect(t.length).toBeLessThan(msgs.length);
  });

  it('splits C over per-domain pools', () => {
    const items: WorkItem[] = generateTasks({ seed: 1, scale: 0.1, overrides: {} }).map((task) => ({
      kind: 'live',
      task,
    }));
    const g = slotGroups(items, 10, { retail: 1, telecom: 1 });
    expect(g.map((x) => x.slots)).toEqual([5, 5, 1]);
    expect(g.reduce((a, x) => a + x.queue.length, 0)).toBe(items.length);
  });
});

describe('watchdog and interruption (fake transport)', () => {
  it('names a task that makes no progress, and an abort ends it as incomplete', async () => {
    const { driveCell } = await import('./driver.js');
    const notes: string[] = [];
    const tasks: string[] = [];
    const ac = new AbortController();
    const items = liveItems(1, 3);
    setTimeout(() => ac.abort(), 150);
    const res = await driveCell({
      items,
      concurrency: 2,
      graceMs: 20,
      watchdogMs: 60,
      signal: ac.signal,
      onTask: (t) => tasks.push(`${t.status}:${t.reason}`),
      ctx: testProgramContext(hangingTransport, { onNote: (n) => notes.push(n) }),
    });
    expect(notes.some((n) => /watchdog: task \S+ made no progress/.test(n))).toBe(true);
    expect(res.interrupted).toBe(true);
    expect(res.dispatched).toBe(2);
    expect(tasks).toEqual(['incomplete:interrupted', 'incomplete:interrupted']);
  });
});

describe('mooncake-style traces', () => {
  it('groups lines by session; gaps from delay or timestamps become pauses', async () => {
    const { plansFromMooncake } = await import('./trace.js');
    const plans = plansFromMooncake([
      { session_id: 'a', timestamp: 0, input_length: 100, output_length: 10 },
      { session_id: 'b', timestamp: 5, input_length: 50, output_length: 5 },
      { session_id: 'a', timestamp: 400, input_length: 220, output_length: 12 },
      { session_id: 'c', delay: 0, input_length: 30, output_length: 3 },
      { session_id: 'c', delay: 250, input_length: 60, output_length: 4 },
    ]);
    expect(plans.map((p) => [p.taskId, p.steps.length])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 2],
    ]);
    expect(plans[0]?.steps[0]).toMatchObject({
      promptTokens: 100,
      outputTokens: 10,
      next: { type: 'tool', durationMs: 400 },
    });
    expect(plans[0]?.steps[1]?.next.type).toBe('end');
    expect(plans[2]?.steps[0]?.next.durationMs).toBe(250);
  });
});

describe('comparability warnings', () => {
  it('flags a model served at different versions across arms', async () => {
    const { versionWarnings } = await import('../experiment/run-experiment.js');
    const w = versionWarnings([
      { arm: 'baseline', model: 'o', version: '0.11.0' },
      { arm: 'router', model: 'o', version: '0.11.0' },
      { arm: 'kv-ttl', model: 'o', version: '0.10.1' },
      { arm: 'kv-ttl', model: 'e', version: '0.11.0' },
    ]);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(
      /^o ran different server versions across arms: 0\.11\.0 \(baseline, router\) vs 0\.10\.1 \(kv-ttl\)/,
    );
  });
});

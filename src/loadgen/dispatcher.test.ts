import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport, type HttpTransport } from '../client/http-transport.js';
import { type ScriptServer, startScriptServer } from '../client/testing/sse-server.js';
import { syntheticItems } from '../workload/synthetic.js';
import type { RequestTemplate } from './requests.js';
import { runStage } from './run-stage.js';

let srv: ScriptServer;
let t: HttpTransport;
let tpl: RequestTemplate;
const items = syntheticItems({
  count: 10,
  input: { kind: 'fixed', value: 8 },
  output: { kind: 'fixed', value: 3 },
  seed: 1,
});
beforeAll(async () => {
  srv = await startScriptServer();
  t = createHttpTransport();
  tpl = {
    endpoint: { baseUrl: srv.url, model: 'm' },
    api: 'chat',
    stream: true,
    minTokens: true,
    ignoreEos: false,
    extraHeaders: { 'x-test': JSON.stringify({ chunks: 3, gapMs: 5 }) },
  };
});
afterAll(async () => {
  await t.close();
  await srv.close();
});

describe('dispatch over real sockets', () => {
  it('closed loop keeps exactly c in flight, warm-up is recorded and excluded', async () => {
    const r = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'closed', concurrency: 4 },
      seed: 0,
      numPrompts: 20,
      warmup: 4,
      transport: t,
    });
    expect(r.records).toHaveLength(24);
    expect(r.records.filter((x) => x.warmup)).toHaveLength(4);
    expect(r.outcome.maxInFlight).toBe(4);
    expect(r.summary.counts).toMatchObject({ measured: 20, ok: 20, error: 0, incomplete: 0 });
    expect(r.summary.completed).toBe(20);
    expect(r.summary.arrivals).toBe('closed(c=4)');
    expect(r.summary.total_output_tokens).toBe(60);
    expect(r.summary.latency.scheduleLagMs.max).toBeLessThan(20);
  });

  it('open loop follows the schedule; a concurrency cap shows up as schedule lag', async () => {
    const open = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'constant', ratePerSec: 200 },
      seed: 0,
      numPrompts: 10,
      transport: t,
    });
    const sched = open.records.map((x) => x.scheduledMs).sort((a, b) => a - b);
    for (let k = 1; k < sched.length; k++) expect(sched[k]! - sched[k - 1]!).toBeCloseTo(5, 0);
    const capped = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'burst', maxConcurrency: 1 },
      seed: 0,
      numPrompts: 5,
      transport: t,
    });
    const lags = capped.records.map((x) => x.sentMs - x.scheduledMs).sort((a, b) => a - b);
    expect(capped.outcome.maxInFlight).toBe(1);
    expect(lags.at(-1)!).toBeGreaterThan(30);
  });

  it('every request ends as exactly one of ok / error / incomplete under mixed faults; counts add up', async () => {
    const modes = [
      {},
      { mode: 'reset', after: 1 },
      { mode: 'status', status: 503 },
      { mode: 'no_done', after: 1 },
      { mode: 'malformed', after: 0 },
    ];
    let k = 0;
    const res = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'closed', concurrency: 3 },
      seed: 0,
      numPrompts: 15,
      transport: {
        call: (req) =>
          t.call({
            ...req,
            extraHeaders: { 'x-test': JSON.stringify({ chunks: 3, ...modes[k++ % modes.length] }) },
          }),
      },
    });
    const s = res.summary.counts;
    expect(s.ok + s.error + s.incomplete).toBe(15);
    expect(s).toMatchObject({ ok: 3, error: 3, incomplete: 9 });
    expect(s.errorByKind).toEqual({ server_error: 3 });
    expect(s.incompleteByKind).toEqual({ reset: 3, no_done: 3, malformed: 3 });
    expect(res.summary.latency.e2eMs.count).toBe(3);
  });

  it('an abort stops dispatch; in-flight requests are cut after the grace period as incomplete', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 80);
    const slow: RequestTemplate = {
      ...tpl,
      extraHeaders: { 'x-test': JSON.stringify({ chunks: 200, gapMs: 10 }) },
    };
    const res = await runStage({
      items,
      template: slow,
      arrivals: { kind: 'closed', concurrency: 2 },
      seed: 0,
      numPrompts: 50,
      transport: t,
      signal: ac.signal,
      graceMs: 50,
    });
    expect(res.outcome.interrupted).toBe(true);
    expect(res.records).toHaveLength(2);
    expect(res.records.every((r) => r.status === 'incomplete' && r.errorKind === 'aborted')).toBe(true);
    expect(res.summary.warnings[0]).toContain('interrupted');
  });
});

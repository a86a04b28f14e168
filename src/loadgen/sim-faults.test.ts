import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport, type HttpTransport } from '../client/http-transport.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { toyEngine } from '../sim/server/testing/toy-engine.js';
import { syntheticItems } from '../workload/synthetic.js';
import { requestFor } from './requests.js';
import { runStage } from './run-stage.js';
import type { CallRequest } from './transport.js';

// The simulator's HTTP front over real sockets, with a small engine (1 ms steps) so every fault
// it can inject is exercised in well under a second.
let sim: SimServers;
let t: HttpTransport;
let base: string;
beforeAll(async () => {
  sim = await startSimServers({
    servers: [{ model: 'toy-model', port: 0 }],
    createEngine: (o, clock) => toyEngine(clock, { model: o.model, maxModelLen: 2048, stepMs: 1 }),
    seed: 3,
  });
  base = `${sim.endpoints[0]!.url}/v1`;
  t = createHttpTransport();
});
afterAll(async () => {
  await t.close();
  await sim.close();
});

const item = syntheticItems({
  count: 1,
  input: { kind: 'fixed', value: 20 },
  output: { kind: 'fixed', value: 8 },
  seed: 1,
})[0]!;
function req(fault?: string, over: Partial<CallRequest> = {}): CallRequest {
  return {
    ...requestFor(item, {
      endpoint: { baseUrl: base, model: 'toy-model' },
      api: 'chat',
      stream: true,
      minTokens: true,
      ignoreEos: false,
    }),
    ...(fault ? { extraHeaders: { 'x-servelab-fault': fault } } : {}),
    timeouts: { totalMs: 3000 },
    ...over,
  };
}

describe('the client against the simulator', () => {
  it('a clean streamed call: exact token count from usage, and the simulator reports its first-token time', async () => {
    const r = await t.call(req());
    expect(r.status).toBe('ok');
    expect(r.usage?.completionTokens).toBe(8);
    expect(r.chunkMs.length).toBeGreaterThan(0);
    expect(r.serverFirstTokenMs).toBeDefined();
    // same machine, same clock: the client sees the token after the server made it, and soon after
    expect(r.firstTokenMs! - r.serverFirstTokenMs!).toBeGreaterThan(-1);
    expect(r.firstTokenMs! - r.serverFirstTokenMs!).toBeLessThan(50);
    const n = await t.call(req(undefined, { stream: false }));
    expect(n).toMatchObject({ status: 'ok', usage: { completionTokens: 8 } });
  });

  // each fault on its own: see transport-contract.test.ts (the same suite for every transport)

  it('a load with every fault mixed in: each request ends once, counts add up, nothing hangs', async () => {
    const faults = [
      undefined,
      '429',
      '503',
      'context_length',
      'stream_cut;2',
      'malformed_chunk;1',
      'missing_done',
      'hang',
      'slow_first_token;30',
    ];
    let k = 0;
    const r = await runStage({
      items: [item],
      template: {
        endpoint: { baseUrl: base, model: 'toy-model' },
        api: 'chat',
        stream: true,
        minTokens: true,
        ignoreEos: false,
        timeouts: { firstByteMs: 300, totalMs: 300 },
      },
      arrivals: { kind: 'closed', concurrency: 6 },
      seed: 0,
      numPrompts: 27,
      transport: {
        call: (c) => {
          const f = faults[k++ % faults.length];
          return t.call(f ? { ...c, extraHeaders: { 'x-servelab-fault': f } } : c);
        },
      },
    });
    const c = r.summary.counts;
    expect(r.records).toHaveLength(27);
    expect(new Set(r.records.map((x) => x.i)).size).toBe(27);
    expect(c.ok + c.error + c.incomplete).toBe(27);
    expect(c.ok).toBe(6);
    expect(c.errorByKind).toEqual({
      rate_limited: 3,
      server_error: 3,
      context_length: 3,
    });
    expect(c.incompleteByKind).toEqual({ reset: 3, malformed: 3, no_done: 3, timeout_total: 3 });
    expect(r.summary.latency.ttftMs.count).toBe(6);
  });
});

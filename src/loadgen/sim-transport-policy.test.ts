/**
 * The scheduling policies through the in-process transport in virtual time: the same request
 * fields (priority, job_id, is_last_step, ...) reach the engine as over HTTP
 * (src/sim/server/policy-http.test.ts runs the same scripts on sockets).
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../sim/clock.js';
import { createEngine } from '../sim/engine.js';
import type { PolicyName } from '../sim/policy/index.js';
import { SimService } from '../sim/service.js';
import { encodeChat } from '../sim/tokenizer.js';
import { createSimTransport } from './sim-transport.js';
import type { CallRequest, CallResult, ChatMessage, ToolCall, ToolSpec } from './transport.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const BLOCKS = 41;

function setup(policy: PolicyName, maxNumSeqs?: number) {
  const clock = new VirtualClock(1_000_000);
  const engine = createEngine(
    {
      model: MODEL,
      gpu: 'H100',
      maxModelLen: 640,
      numGpuBlocksOverride: BLOCKS,
      stepTimeMs: 2,
      schedulingPolicy: policy,
      ...(maxNumSeqs !== undefined ? { maxNumSeqs } : {}),
    },
    clock,
  );
  const service = new SimService({ engine, clock, seed: 1, enablePromptTokensDetails: true });
  const sim = createSimTransport({ clock, services: service });
  const endpoint = { baseUrl: 'sim://a/v1', model: service.modelName };
  const call = (r: Omit<CallRequest, 'endpoint' | 'api' | 'stream'>) =>
    sim.call({ endpoint, api: 'chat', stream: true, ...r });
  return { clock, sim, engine, call };
}

const TOOLS: ToolSpec[] = [
  { type: 'function', function: { name: 'search', parameters: { type: 'object', properties: {} } } },
];

describe('scheduling policies through the in-process transport (virtual time)', () => {
  /** A calls a tool, B (38 of 40 blocks) arrives during A's 500 ms tool, A's last step follows */
  async function toolScript(policy: PolicyName) {
    const t = setup(policy);
    const order: string[] = [];
    const a1Messages: ChatMessage[] = [
      { role: 'system', content: `You are a careful agent. ${'Follow the policy. '.repeat(40)}` },
      { role: 'user', content: 'find the order' },
    ];
    const work = (async () => {
      const a1 = await t.call({
        messages: a1Messages,
        tools: TOOLS,
        maxTokens: 64,
        extraBody: {
          job_id: 'A',
          is_last_step: false,
          this_func_call: null,
          servelab_directive: { tool_calls: [{ name: 'search', arguments: {} }] },
        },
      });
      const pinsAfterA1 = t.engine.snapshot().policy;
      const usageAfterA1 = t.engine.snapshot().kvUsageFrac;
      let text = 'begin';
      while (encodeChat([{ role: 'user', content: text }], null).length < 37 * 16 + 4) text += ' filler';
      const b = t
        .call({
          messages: [{ role: 'user', content: text }],
          maxTokens: 12,
          extraBody: { job_id: 'B', is_last_step: true, servelab_directive: { output_tokens: 12 } },
        })
        .then((r) => {
          order.push('B');
          return r;
        });
      await t.sim.sleepUntil(t.sim.now() + 500); // A's tool runs
      const tc = a1.toolCalls[0] as ToolCall;
      const a2 = await t
        .call({
          messages: [
            ...a1Messages,
            { role: 'assistant', content: null, tool_calls: [tc] },
            { role: 'tool', tool_call_id: tc.id, content: 'order 7: shipped' },
          ],
          tools: TOOLS,
          maxTokens: 8,
          extraBody: { job_id: 'A', is_last_step: true, servelab_directive: { output_tokens: 8 } },
        })
        .then((r) => {
          order.push('A2');
          return r;
        });
      await b;
      return { a1, a2, pinsAfterA1, usageAfterA1 };
    })();
    const r = await t.sim.drive(work);
    return { ...r, order, end: t.engine.snapshot() };
  }

  it('continuum: the tool call is pinned and counts in usage; B, which does not fit beside the pin while nothing runs, releases it under pressure (the fork); fcfs: B first, A1 evicted', async () => {
    const c = await toolScript('continuum');
    expect(c.a1.status).toBe('ok');
    expect(c.a1.finishReason).toBe('tool_calls');
    expect(c.pinsAfterA1).toMatchObject({ pinnedRequests: 1, pinsCreated: 1 });
    expect(c.usageAfterA1).toBeCloseTo(c.pinsAfterA1!.pinnedOnlyBlocks / (BLOCKS - 1), 12);
    // as over HTTP (policy-http.test.ts): the fork's waiting loop pops the pin when nothing runs
    // and the next waiting call does not fit, so B goes first and A2 finds 2 blocks, as with fcfs
    expect(c.order).toEqual(['B', 'A2']);
    expect(c.a2.usage!.cachedTokens).toBe(32);
    expect(c.end.policy).toMatchObject({ pinHits: 0, pinnedBlocks: 0, pinsReleasedUnderPressure: 1 });

    const f = await toolScript('fcfs');
    expect(f.pinsAfterA1).toBeUndefined();
    expect(f.usageAfterA1).toBe(0);
    expect(f.order).toEqual(['B', 'A2']);
    expect(f.a2.usage!.cachedTokens).toBe(32);
  });

  it('priority: completion order under contention follows the priority field; fcfs ignores it', async () => {
    const run = async (policy: PolicyName) => {
      const t = setup(policy, 1);
      const order: string[] = [];
      const send = (name: string, priority: number, tokens: number): Promise<CallResult> =>
        t
          .call({
            messages: [{ role: 'user', content: `request ${name}` }],
            maxTokens: tokens,
            extraBody: { priority, servelab_directive: { output_tokens: tokens } },
          })
          .then((r) => {
            order.push(name);
            return r;
          });
      const work = (async () => {
        const x = send('X', 0, 200);
        await t.sim.sleepUntil(t.sim.now() + 20);
        const l = send('L', 5, 4);
        await t.sim.sleepUntil(t.sim.now() + 20);
        const h = send('H', -5, 4);
        return Promise.all([x, l, h]);
      })();
      const rs = await t.sim.drive(work);
      expect(rs.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
      return order;
    };
    expect(await run('priority')).toEqual(['X', 'H', 'L']);
    expect(await run('fcfs')).toEqual(['X', 'L', 'H']);
  });

  it('a bad field comes back as the HTTP path would: a 400 naming it', async () => {
    const t = setup('continuum');
    const r = await t.sim.drive(
      t.call({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 2, extraBody: { job_id: 42 } }),
    );
    expect(r.status).toBe('error');
    expect(r.error?.message).toMatch(/job_id must be a string/);
  });
});

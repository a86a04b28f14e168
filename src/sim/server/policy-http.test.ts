/**
 * Scheduling policies seen from outside, over real HTTP with the openai client: the service
 * passes `priority`, the Continuum fork's job_id / is_last_step / this_func_call /
 * last_func_call and the planned answer's raw text to the engine; /metrics shows the pins.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../engine.js';
import type { PolicyName } from '../policy/index.js';
import { encodeChat } from '../tokenizer.js';
import { type SimServers, startSimServers } from './index.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
/** 41 blocks of 16: 40 usable (vLLM keeps one null block) */
const BLOCKS = 41;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function start(policy: PolicyName, more: { maxNumSeqs?: number } = {}): Promise<SimServers> {
  const sim = await startSimServers({
    servers: [
      {
        model: MODEL,
        servedModelName: 'm',
        port: 0,
        maxModelLen: 640,
        stepTimeMs: 2,
        schedulingPolicy: policy,
        // a long TTL so that a slow test host cannot let the pin expire between two calls
        ...(policy === 'continuum' ? { continuum: { ttlS: 120 } } : {}),
        ...more,
      },
    ],
    enablePromptTokensDetails: true,
    createEngine: (o, clock) => createEngine({ ...o, numGpuBlocksOverride: BLOCKS }, clock),
  });
  cleanups.push(() => sim.close());
  return sim;
}

async function scrape(sim: SimServers): Promise<string> {
  return (await fetch(`${sim.endpoints[0]!.url}/metrics`)).text();
}

function sample(text: string, name: string, labelPart = ''): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && l.includes(labelPart) && !l.startsWith('#'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const TOOLS: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'search', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
  },
];
const SYSTEM = `You are a careful agent. ${'Follow the policy document to the letter. '.repeat(16)}`;

type Params = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;

/** a user message whose chat rendering is at least `tokens` tokens (the simulator's tokenizer) */
function promptOf(tokens: number): OpenAI.Chat.ChatCompletionMessageParam[] {
  let text = 'begin';
  while (encodeChat([{ role: 'user', content: text }], null).length < tokens) text += ' filler';
  return [{ role: 'user', content: text }];
}

/**
 * Program A calls a tool (step 1, not the last step), program B (one long call) arrives while
 * A's tool runs and needs more blocks than A leaves free, then A's step 2 (its last) comes.
 */
async function toolScript(policy: PolicyName) {
  const sim = await start(policy);
  const client = new OpenAI({ baseURL: `${sim.endpoints[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const a1Messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: 'find the order' },
  ];
  // no this_func_call: the continuum policy parses the tool from the answer's raw text
  const a1 = await client.chat.completions.create({
    model: 'm',
    messages: a1Messages,
    tools: TOOLS,
    max_tokens: 64,
    job_id: 'A',
    is_last_step: false,
    servelab_directive: { tool_calls: [{ name: 'search', arguments: { q: 'order 7' } }] },
  } as Params);
  expect(a1.choices[0]!.finish_reason).toBe('tool_calls');
  const afterA1 = await scrape(sim);
  const a1Blocks = Math.ceil((a1.usage!.prompt_tokens + a1.usage!.completion_tokens) / 16);

  // B needs 38 of the 40 blocks: more than A1 leaves free, so it fits only by taking A1's
  const order: string[] = [];
  const bPrompt = promptOf(37 * 16 + 4);
  const b = client.chat.completions
    .create({
      model: 'm',
      messages: bPrompt,
      max_tokens: 12,
      job_id: 'B',
      is_last_step: true,
      servelab_directive: { output_tokens: 12 },
    } as Params)
    .then((r) => {
      order.push('B');
      return r;
    });
  await until('B to be queued or done', async () => {
    if (order.includes('B')) return true;
    const t = await scrape(sim);
    return (sample(t, 'vllm:num_requests_waiting') ?? 0) + (sample(t, 'vllm:num_requests_running') ?? 0) > 0;
  });
  const tc = a1.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
  const a2 = await client.chat.completions
    .create({
      model: 'm',
      messages: [
        ...a1Messages,
        { role: 'assistant', content: null, tool_calls: [tc] },
        { role: 'tool', tool_call_id: tc.id, content: 'order 7: shipped' },
      ],
      tools: TOOLS,
      max_tokens: 8,
      job_id: 'A',
      is_last_step: true,
      last_func_call: 'search',
      servelab_directive: { output_tokens: 8 },
    } as Params)
    .then((r) => {
      order.push('A2');
      return r;
    });
  await b;
  return { sim, a1, a2, afterA1, after: await scrape(sim), order, a1Blocks };
}

describe('continuum over HTTP (the Continuum fork)', () => {
  it('pins a tool call that is not the last step: on /metrics and in kv_cache_usage_perc; released under pressure when nothing runs', async () => {
    const c = await toolScript('continuum');
    const t = c.afterA1;
    expect(sample(t, 'servelab:kv_pins_created_total')).toBe(1);
    expect(sample(t, 'servelab:kv_pinned_requests')).toBe(1);
    const pinned = sample(t, 'servelab:kv_pinned_blocks')!;
    expect(pinned).toBeGreaterThanOrEqual(c.a1Blocks - 1);
    expect(sample(t, 'servelab:kv_pinned_only_blocks')).toBe(pinned);
    // nothing runs, yet the pinned blocks are in use: they count in vLLM's usage figure
    expect(sample(t, 'vllm:num_requests_running')).toBe(0);
    expect(sample(t, 'vllm:kv_cache_usage_perc')).toBeCloseTo(pinned / (BLOCKS - 1), 12);
    // B needs more blocks than A's pin leaves free and nothing runs: as the fork
    // (pop_running_request_based_on_last_step from its waiting loop), the pin is released under
    // pressure and B goes first, taking A1's freed blocks as fcfs does below (A2 hits 2 blocks)
    expect(c.order).toEqual(['B', 'A2']);
    expect(c.a2.usage!.prompt_tokens_details?.cached_tokens).toBe(32);
    const e = c.after;
    expect(sample(e, 'servelab:kv_pins_released_total', 'reason="pressure"')).toBe(1);
    expect(sample(e, 'servelab:kv_pins_released_total', 'reason="next_call"')).toBe(0);
    expect(sample(e, 'servelab:kv_pin_hits_total')).toBe(0);
    // A2 was the last step: it pinned nothing
    expect(sample(e, 'servelab:kv_pins_created_total')).toBe(1);
    expect(sample(e, 'servelab:kv_pinned_blocks')).toBe(0);
    expect(sample(e, 'vllm:kv_cache_usage_perc')).toBe(0);
    // the fork's fields are its own, not "extra" fields
    expect(e).not.toMatch(/servelab_sim_extra_fields_total\{[^}]*field="job_id"/);
    // the fork's recorder saw both programs
    const docs = c.sim.schedulerTimestamps();
    expect(docs).toHaveLength(1);
    const a = docs[0]!.doc.A!;
    expect(a.map((ev) => Object.keys(ev)[0])).toEqual([
      'Request_arrival_time',
      'waiting_to_running',
      'Request_departure_time',
      'pinned_time',
      'unpinned_time',
      'Request_arrival_time',
      'waiting_to_running',
      'Request_departure_time',
    ]);
    // Unix seconds, as time.time() in the fork
    expect(Math.abs(a[0]!.Request_arrival_time! - Date.now() / 1000)).toBeLessThan(600);
  }, 60_000);

  it('fcfs on the same script: no pins, B goes first and evicts most of A1’s cache; the page stays vLLM’s', async () => {
    const c = await toolScript('fcfs');
    expect(c.afterA1).not.toContain('servelab:kv_');
    expect(sample(c.afterA1, 'vllm:kv_cache_usage_perc')).toBe(0);
    expect(c.order).toEqual(['B', 'A2']);
    // B took A1's freed blocks, evicting (vLLM frees a request's blocks tail first) all but the
    // first two: A2 hits 2 blocks of its prompt
    expect(c.a2.usage!.prompt_tokens_details?.cached_tokens).toBe(32);
    expect(c.sim.schedulerTimestamps()).toEqual([]);
    // plain vLLM ignores the fork's fields: they are extra fields here
    expect(sample(c.after, 'servelab_sim_extra_fields_total', 'field="job_id"')).toBe(3);
  }, 60_000);

  it('the fork’s field types: a numeric job_id or a non-boolean is_last_step is a 400 naming the field', async () => {
    const sim = await start('continuum');
    const client = new OpenAI({ baseURL: `${sim.endpoints[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
    for (const [field, value] of [
      ['job_id', 7],
      ['is_last_step', 'maybe'],
      ['this_func_call', ['x']],
    ] as const) {
      const err = await client.chat.completions.create({ ...base, [field]: value } as Params).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
      expect(err?.status).toBe(400);
      expect(err?.message).toContain(field);
    }
    // pydantic's lax bool and null job ids are accepted
    const ok = await client.chat.completions.create({
      ...base,
      job_id: null,
      is_last_step: 'true',
    } as Params);
    expect(ok.choices[0]!.finish_reason).toBeDefined();
    // plain vLLM ignores them whatever their type
    const plain = await start('fcfs');
    const c2 = new OpenAI({ baseURL: `${plain.endpoints[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await c2.chat.completions.create({ ...base, job_id: 7, is_last_step: 'maybe' } as Params);
    expect(r.choices[0]!.finish_reason).toBeDefined();
  }, 60_000);
});

describe('priority over HTTP (vLLM --scheduling-policy priority)', () => {
  /** X occupies the one sequence slot; L (priority 5) then H (priority -5) queue behind it */
  async function contention(policy: PolicyName): Promise<string[]> {
    const sim = await start(policy, { maxNumSeqs: 1 });
    const client = new OpenAI({ baseURL: `${sim.endpoints[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const order: string[] = [];
    const send = (name: string, priority: number, tokens: number) =>
      client.chat.completions
        .create({
          model: 'm',
          messages: [{ role: 'user', content: `request ${name}` }],
          max_tokens: tokens,
          priority,
          servelab_directive: { output_tokens: tokens },
        } as Params)
        .then(() => void order.push(name));
    const waiting = async (n: number) => {
      const t = await scrape(sim);
      return sample(t, 'vllm:num_requests_waiting') === n && sample(t, 'vllm:num_requests_running') === 1;
    };
    const x = send('X', 0, 200);
    await until('X running', () => waiting(0));
    const l = send('L', 5, 4);
    await until('L queued', () => waiting(1));
    const h = send('H', -5, 4);
    await until('H queued', () => waiting(2));
    await Promise.all([x, l, h]);
    return order;
  }

  it('completion order under contention follows the priority field (smaller first); fcfs ignores it', async () => {
    expect(await contention('priority')).toEqual(['X', 'H', 'L']);
    expect(await contention('fcfs')).toEqual(['X', 'L', 'H']);
  }, 60_000);

  it('a priority that is not an integer is a 400 naming the field (vLLM’s pydantic int)', async () => {
    const sim = await start('priority');
    const client = new OpenAI({ baseURL: `${sim.endpoints[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
    for (const bad of [1.5, 'high', null]) {
      const err = await client.chat.completions.create({ ...base, priority: bad } as unknown as Params).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
      expect(err?.status).toBe(400);
      expect(err?.message).toContain('priority');
    }
    // an integer-valued float or string is an int to pydantic
    await client.chat.completions.create({ ...base, priority: '3' } as unknown as Params);
    await client.chat.completions.create({ ...base, priority: 2.0 } as Params);
  }, 30_000);
});

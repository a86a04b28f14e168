import { Agent, request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonaName } from '../persona.js';
import { type SimServers, startSimServers } from './index.js';

let sim: SimServers;
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

function client(i: number): OpenAI {
  return new OpenAI({
    baseURL: `${sim.endpoints[i]!.url}/v1`,
    apiKey: 'x',
    maxRetries: 0,
    // servelab's own timing object is sent only on request
    defaultHeaders: { 'x-servelab-timing': '1' },
  });
}

beforeAll(async () => {
  const personas: PersonaName[] = ['plain', 'orchestrator', 'gpt-oss', 'qwen3'];
  sim = await startSimServers({
    // the real engine (H100 roofline), 5x faster than modelled so the tests do not wait
    servers: personas.map((persona) => ({
      model: MODEL,
      persona,
      port: 0,
      maxModelLen: 2048,
      stepTimeScale: 0.2,
    })),
    seed: 7,
    enablePromptTokensDetails: true,
  });
});
afterAll(() => sim.close());

describe('HTTP front with the openai client', () => {
  it('streams: role chunk first, content deltas, finish_reason, usage chunk with cached tokens and [DONE]', async () => {
    const long = 'alpha beta gamma delta '.repeat(40);
    const c = client(0);
    for (const round of [0, 1]) {
      const stream = await c.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: long }],
        max_tokens: 12,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const ch of stream) chunks.push(ch);
      expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
      const last = chunks[chunks.length - 1]!;
      expect(last.choices).toEqual([]);
      expect(last.usage?.completion_tokens).toBeGreaterThan(0);
      const fin = chunks.find((x) => x.choices[0]?.finish_reason);
      expect(['stop', 'length']).toContain(fin?.choices[0]?.finish_reason);
      const cached = last.usage?.prompt_tokens_details?.cached_tokens ?? 0;
      if (round === 1) expect(cached).toBeGreaterThan(100);
      const timing = (last as unknown as { servelab: { first_token_ms: number; arrival_ms: number } })
        .servelab;
      expect(timing.first_token_ms).toBeGreaterThanOrEqual(timing.arrival_ms);
      expect(Math.abs(timing.arrival_ms - (performance.timeOrigin + performance.now()))).toBeLessThan(5000);
    }
  });

  it('a re-sent answer hits its cached output blocks (multi-turn prefix reuse)', async () => {
    const c = client(0);
    const user = { role: 'user' as const, content: 'the history of the world in a few words '.repeat(20) };
    const r1 = await c.chat.completions.create({
      model: MODEL,
      messages: [user],
      max_tokens: 64,
      ignore_eos: true,
    } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    const p1 = r1.usage!.prompt_tokens;
    const r2 = await c.chat.completions.create({
      model: MODEL,
      messages: [
        user,
        { role: 'assistant', content: r1.choices[0]!.message.content },
        { role: 'user', content: 'more' },
      ],
      max_tokens: 4,
    });
    const cached = r2.usage!.prompt_tokens_details!.cached_tokens!;
    expect(cached).toBeGreaterThanOrEqual(Math.floor((p1 + 63) / 16) * 16 - 16);
    expect(cached).toBeGreaterThan(p1);
  });

  it('non-streamed: ignore_eos gives exactly max_tokens, finish length, usage', async () => {
    const r = await client(0).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
      max_tokens: 9,
      ignore_eos: true,
    } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    expect(r.usage?.completion_tokens).toBe(9);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.choices[0]!.message.content?.split(' ').length).toBe(9);
  });

  it('orchestrator streams call_expert tool calls the client assembles, then answers in text', async () => {
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'call_expert',
          parameters: {
            type: 'object',
            properties: {
              expert: { type: 'string', enum: ['expert-1', 'expert-2', 'expert-3'] },
              query: { type: 'string' },
            },
            required: ['expert', 'query'],
          },
        },
      },
    ];
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'book me a flight' },
    ];
    let toolSteps = 0;
    for (let i = 0; i < 10; i++) {
      const stream = client(1).chat.completions.stream({
        model: MODEL,
        messages,
        tools,
        program_id: 'p1',
      } as never);
      const done = await stream.finalChatCompletion();
      const choice = done.choices[0]!;
      if (choice.finish_reason !== 'tool_calls') {
        expect(choice.message.content?.length).toBeGreaterThan(0);
        break;
      }
      const tc = choice.message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
      expect(tc.id).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
      expect(tc.function.name).toBe('call_expert');
      const args = JSON.parse(tc.function.arguments);
      expect(['expert-1', 'expert-2', 'expert-3']).toContain(args.expert);
      toolSteps++;
      messages.push({ role: 'assistant', content: null, tool_calls: [tc] });
      messages.push({ role: 'tool', tool_call_id: tc.id, content: 'expert says hi' });
    }
    expect(toolSteps).toBeGreaterThanOrEqual(1);
    expect(toolSteps).toBeLessThan(10);
  });

  it('gpt-oss puts text in reasoning_content; qwen3 thinks in content and is cut by length', async () => {
    const r = await client(2).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'q' }],
    });
    const msg = r.choices[0]!.message as unknown as { reasoning_content: string; reasoning: string };
    expect(msg.reasoning_content.length).toBeGreaterThan(0);
    // vLLM 0.11 has no `reasoning` field yet (0.12 added it)
    expect(msg.reasoning).toBeUndefined();
    const q = await client(3).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'q' }],
      max_tokens: 5,
    });
    expect(q.choices[0]!.finish_reason).toBe('length');
    expect(q.choices[0]!.message.content).toMatch(/^<think>\n/);
    const nt = await client(3).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'q /no_think' }],
      max_tokens: 40,
    });
    // /no_think: Qwen3 writes an empty think block itself; enable_thinking=false: no block at all
    expect(nt.choices[0]!.message.content).toMatch(/^<think>\n\n<\/think>\n\n\S/);
    const off = await client(3).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'q' }],
      max_tokens: 5,
      chat_template_kwargs: { enable_thinking: false },
    } as never);
    expect((off as OpenAI.Chat.ChatCompletion).choices[0]!.message.content).not.toContain('<think>');
  });

  it('a directive makes the sim produce exactly that', async () => {
    const r = await client(0).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      servelab_directive: { output_tokens: 40, tool_calls: [{ name: 'lookup', arguments: { id: 3 } }] },
    } as never);
    const ch = (r as OpenAI.Chat.ChatCompletion).choices[0]!;
    expect(ch.finish_reason).toBe('tool_calls');
    const tc = ch.message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(JSON.parse(tc.function.arguments)).toEqual({ id: 3 });
    expect((r as OpenAI.Chat.ChatCompletion).usage?.completion_tokens).toBe(40);
  });

  it('a directive with finish_reason length stops at exactly output_tokens', async () => {
    const r = (await client(0).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      servelab_directive: { output_tokens: 17, finish_reason: 'length' },
    } as never)) as OpenAI.Chat.ChatCompletion;
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage?.completion_tokens).toBe(17);
    const m = (await (await fetch(`${sim.endpoints[0]!.url}/v1/models`)).json()) as {
      data: { root: string }[];
    };
    expect(m.data[0]!.root).toBe(MODEL);
  });

  it('404 for an unknown model and 400 over the context length, as typed openai errors', async () => {
    const c = client(0);
    await expect(
      c.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toSatisfy(
      (e: unknown) => e instanceof OpenAI.NotFoundError && /The model `nope` does not exist/.test(e.message),
    );
    const big = 'word '.repeat(3000);
    await expect(
      c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: big }] }),
    ).rejects.toSatisfy(
      (e: unknown) =>
        e instanceof OpenAI.BadRequestError &&
        /maximum context length is 2048 tokens. However, your request has \d+ input tokens. Please reduce the length of the input messages. None/.test(
          e.message,
        ),
    );
  });

  it('completions API: prompt string or list, choices[].text', async () => {
    const c = client(0);
    const r = await c.completions.create({ model: MODEL, prompt: ['one two', 'three four'], max_tokens: 4 });
    expect(r.choices.length).toBe(2);
    expect(r.choices[1]!.text.length).toBeGreaterThan(0);
    const s = await c.completions.create({ model: MODEL, prompt: 'hello', max_tokens: 3, stream: true });
    let text = '';
    for await (const ch of s) text += ch.choices[0]?.text ?? '';
    expect(text.split(' ').length).toBeLessThanOrEqual(3);
  });

  it('serves /health, /version, /v1/models, /reset_prefix_cache', async () => {
    const u = sim.endpoints[0]!.url;
    const h = await fetch(`${u}/health`);
    expect(h.status).toBe(200);
    expect(await h.text()).toBe('');
    expect(await (await fetch(`${u}/version`)).json()).toEqual({ version: '0.11.0' });
    const models = (await (await fetch(`${u}/v1/models`)).json()) as {
      data: { id: string; max_model_len: number }[];
    };
    expect(models.data[0]).toMatchObject({
      id: MODEL,
      max_model_len: 2048,
      object: 'model',
      owned_by: 'vllm',
    });
    expect((await fetch(`${u}/reset_prefix_cache`, { method: 'POST' })).status).toBe(200);
  });
});

describe('fast chunk lines', () => {
  it('write the same bytes as JSON.stringify of the chunk object', async () => {
    const { deltaLineFactory, streamChunk } = await import('./chunks.js');
    for (const kind of ['chat', 'completion'] as const) {
      for (const includeUsage of [true, false]) {
        const meta = {
          id: 'chatcmpl-1',
          kind,
          created: 5,
          model: 'a"b',
          stream: true,
          includeUsage,
          choices: 2,
          promptTokens: 3,
          promptTokenIds: [
            [1, 2, 3],
            [4, 5, 6],
          ],
          timing: false,
        };
        for (const d of [
          { content: ' hi "x"\n' },
          { reasoning: 'r' },
          { toolCalls: [{ index: 0, arguments: '{' }] },
        ]) {
          expect(deltaLineFactory(meta, 1)(d)).toBe(`data: ${JSON.stringify(streamChunk(meta, 1, d))}\n\n`);
        }
      }
    }
  });
});

describe('raw SSE shapes', () => {
  async function sse(body: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    const r = await fetch(`${sim.endpoints[1]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
        ...body,
      }),
    });
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await r.text()).split('\n\n').filter(Boolean);
    expect(events[events.length - 1]).toBe('data: [DONE]');
    return events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
  }

  it('tool calls stream by index: id, type and name first, then argument fragments only', async () => {
    const chunks = await sse({
      stream_options: { include_usage: true },
      servelab_directive: { tool_calls: [{ name: 'lookup', arguments: { city: 'Paris', days: 3 } }] },
    });
    for (const c of chunks) expect(c.usage === null || c.choices).toBeTruthy();
    // vLLM 0.11 dumps chat chunks with exclude_unset: no `usage: null` before the usage chunk
    expect(chunks.slice(0, -1).every((c) => !('usage' in c))).toBe(true);
    const frags = chunks.flatMap(
      (c) =>
        ((c.choices as { delta?: { tool_calls?: Record<string, unknown>[] } }[])[0]?.delta?.tool_calls ??
          []) as Record<string, unknown>[],
    );
    expect(frags[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'lookup' } });
    expect(String(frags[0]!.id)).toMatch(/^chatcmpl-tool-/);
    for (const f of frags.slice(1)) {
      expect(f.id).toBeUndefined();
      expect(Object.keys(f.function as object)).toEqual(['arguments']);
    }
    const args = frags.map((f) => (f.function as { arguments?: string }).arguments ?? '').join('');
    expect(JSON.parse(args)).toEqual({ city: 'Paris', days: 3 });
    const fin = chunks.find((c) => (c.choices as { finish_reason: string | null }[])[0]?.finish_reason);
    expect((fin!.choices as Record<string, unknown>[])[0]).toMatchObject({
      finish_reason: 'tool_calls',
      stop_reason: null,
    });
    const last = chunks[chunks.length - 1]!;
    expect(last.choices).toEqual([]);
    // nothing of this 6-token prompt was cached: vLLM then sends no prompt_tokens_details
    expect(Object.keys(last.usage as object)).toEqual(['prompt_tokens', 'total_tokens', 'completion_tokens']);
  });

  it('without include_usage no chunk has a usage field', async () => {
    const chunks = await sse({ max_tokens: 3 });
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect((chunks[0]!.choices as { delta: unknown }[])[0]!.delta).toEqual({
      role: 'assistant',
      content: '',
    });
  });

  it('streamed responses are valid chunked bodies and keep-alive reuses the socket for the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(`${sim.endpoints[0]!.url}/v1/chat/completions`);
    const one = (stream: boolean) =>
      new Promise<{ reused: boolean; chunked: string | undefined; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (t: string) => {
              body += t;
            });
            res.on('end', () =>
              resolve({ reused: req.reusedSocket, chunked: res.headers['transfer-encoding'], body }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(
          JSON.stringify({
            model: MODEL,
            messages: [{ role: 'user', content: 'hi there' }],
            max_tokens: 6,
            ignore_eos: true,
            stream,
          }),
        );
      });
    try {
      const a = await one(true);
      const b = await one(true);
      const c = await one(false);
      expect(a.reused).toBe(false);
      expect(b.reused).toBe(true);
      expect(c.reused).toBe(true);
      expect(a.chunked).toBe('chunked');
      // node's HTTP parser de-chunked the body: whole SSE events, ending with [DONE]
      for (const r of [a, b]) {
        const events = r.body.split('\n\n').filter(Boolean);
        expect(events.at(-1)).toBe('data: [DONE]');
        expect(events.length).toBeGreaterThanOrEqual(6 + 2);
        for (const e of events.slice(0, -1)) expect(() => JSON.parse(e.slice('data: '.length))).not.toThrow();
      }
      expect(JSON.parse(c.body).usage.completion_tokens).toBe(6);
    } finally {
      agent.destroy();
    }
  });
});

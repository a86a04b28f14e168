/**
 * The simulator on the wire, held to what vLLM 0.11 sends (vllm/entrypoints/openai/protocol.py,
 * serving_chat.py, serving_completion.py, serving_models.py): every key of every streamed chunk
 * against an allow-list of vLLM's pydantic fields, the role chunk's timing, usage details,
 * /v1/models, the context-length wording, and the request-body limit.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport } from '../../client/http-transport.js';
import type { PersonaName } from '../persona.js';
import { type SimServers, startSimServers } from './index.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** an allow-list node: a leaf, an object of allowed keys, or a list of one node */
type Allowed = 'leaf' | { [key: string]: Allowed } | Allowed[];

const USAGE: Allowed = {
  prompt_tokens: 'leaf',
  total_tokens: 'leaf',
  completion_tokens: 'leaf',
  prompt_tokens_details: { cached_tokens: 'leaf' },
};
// ChatCompletionStreamResponse / ChatCompletionResponseStreamChoice / DeltaMessage / DeltaToolCall
const CHAT_CHUNK: Allowed = {
  id: 'leaf',
  object: 'leaf',
  created: 'leaf',
  model: 'leaf',
  choices: [
    {
      index: 'leaf',
      delta: {
        role: 'leaf',
        content: 'leaf',
        reasoning_content: 'leaf',
        tool_calls: [
          { id: 'leaf', type: 'leaf', index: 'leaf', function: { name: 'leaf', arguments: 'leaf' } },
        ],
      },
      logprobs: 'leaf',
      finish_reason: 'leaf',
      stop_reason: 'leaf',
      token_ids: 'leaf',
    },
  ],
  usage: USAGE,
  prompt_token_ids: 'leaf',
};
// CompletionStreamResponse / CompletionResponseStreamChoice
const COMPLETION_CHUNK: Allowed = {
  id: 'leaf',
  object: 'leaf',
  created: 'leaf',
  model: 'leaf',
  choices: [
    {
      index: 'leaf',
      text: 'leaf',
      logprobs: 'leaf',
      finish_reason: 'leaf',
      stop_reason: 'leaf',
      prompt_token_ids: ['leaf'],
      token_ids: 'leaf',
    },
  ],
  usage: USAGE,
};

/** every key path in `v` that the allow-list does not have */
function strayKeys(v: unknown, allowed: Allowed, path = '$'): string[] {
  if (allowed === 'leaf' || v === null || typeof v !== 'object') return [];
  if (Array.isArray(allowed)) {
    if (!Array.isArray(v)) return [`${path} (not a list)`];
    return v.flatMap((x, i) => strayKeys(x, allowed[0]!, `${path}[${i}]`));
  }
  if (Array.isArray(v)) return [`${path} (a list)`];
  return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) =>
    k in allowed ? strayKeys(x, allowed[k]!, `${path}.${k}`) : [`${path}.${k}`],
  );
}

let sim: SimServers;
const url = (persona: PersonaName) =>
  sim.endpoints[['plain', 'orchestrator', 'gpt-oss', 'qwen3'].indexOf(persona)]!.url;

beforeAll(async () => {
  sim = await startSimServers({
    servers: (['plain', 'orchestrator', 'gpt-oss', 'qwen3'] as const).map((persona) => ({
      model: MODEL,
      persona,
      port: 0,
      maxModelLen: 16384,
      stepTimeScale: 0.2,
    })),
    seed: 3,
  });
});
afterAll(() => sim.close());

async function events(
  base: string,
  path: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ chunks: Record<string, unknown>[]; raw: string[] }> {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: MODEL, stream: true, ...body }),
  });
  expect(r.status).toBe(200);
  const raw = (await r.text()).split('\n\n').filter(Boolean);
  expect(raw.at(-1)).toBe('data: [DONE]');
  return { chunks: raw.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length))), raw };
}

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const LOOKUP = {
  type: 'function',
  function: { name: 'lookup', parameters: { type: 'object', properties: { id: { type: 'number' } } } },
};

describe('every streamed key is one vLLM 0.11 sends', () => {
  const chatCases: [string, PersonaName, Record<string, unknown>][] = [
    ['plain', 'plain', { messages: [{ role: 'user', content: 'hello there' }], max_tokens: 8 }],
    [
      'tools (orchestrator)',
      'orchestrator',
      { messages: [{ role: 'user', content: 'book a flight' }], tools: [LOOKUP] },
    ],
    [
      'a directive with tool calls',
      'plain',
      {
        messages: [{ role: 'user', content: 'x' }],
        tools: [LOOKUP],
        servelab_directive: { tool_calls: [{ name: 'lookup', arguments: { id: 3 } }] },
      },
    ],
    ['reasoning (gpt-oss)', 'gpt-oss', { messages: [{ role: 'user', content: 'why' }], max_tokens: 40 }],
    [
      'thinking in content (qwen3)',
      'qwen3',
      { messages: [{ role: 'user', content: 'why' }], max_tokens: 20 },
    ],
  ];
  for (const [name, persona, body] of chatCases) {
    for (const includeUsage of [false, true]) {
      it(`chat, ${name}, include_usage ${includeUsage}`, async () => {
        const { chunks } = await events(url(persona), CHAT, {
          ...body,
          ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
        });
        for (const c of chunks) expect(strayKeys(c, CHAT_CHUNK)).toEqual([]);
        // exclude_unset: no null usage on content chunks; the usage chunk only when asked
        const withUsage = chunks.filter((c) => 'usage' in c);
        expect(withUsage.length).toBe(includeUsage ? 1 : 0);
        if (includeUsage) {
          expect(withUsage[0]).toBe(chunks.at(-1));
          expect(chunks.at(-1)!.choices).toEqual([]);
          expect(chunks.at(-1)!.usage).not.toBeNull();
        }
        // the role chunk, as vLLM builds it, and nothing else has prompt_token_ids
        expect(chunks[0]).toMatchObject({
          choices: [
            { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
          ],
          prompt_token_ids: null,
        });
        expect(chunks.slice(1).every((c) => !('prompt_token_ids' in c))).toBe(true);
      });
    }
  }

  for (const prompt of ['one two three', ['one two', 'three four five']] as const) {
    for (const includeUsage of [false, true]) {
      it(`completions, prompt ${typeof prompt === 'string' ? 'string' : 'list'}, include_usage ${includeUsage}`, async () => {
        const { chunks } = await events(url('plain'), COMPLETIONS, {
          prompt,
          max_tokens: 6,
          ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
        });
        for (const c of chunks) expect(strayKeys(c, COMPLETION_CHUNK)).toEqual([]);
        const content = chunks.filter((c) => (c.choices as unknown[]).length > 0);
        // exclude_unset=False: every field of every content chunk, usage null included
        for (const c of content) {
          expect(c.usage).toBeNull();
          expect(Object.keys((c.choices as object[])[0]!)).toEqual([
            'index',
            'text',
            'logprobs',
            'finish_reason',
            'stop_reason',
            'prompt_token_ids',
            'token_ids',
          ]);
        }
        // each choice's first chunk carries its prompt's token ids (vLLM 0.10.2 - 0.11)
        const n = typeof prompt === 'string' ? 1 : prompt.length;
        for (let i = 0; i < n; i++) {
          const mine = content.filter((c) => (c.choices as { index: number }[])[0]!.index === i);
          const ids = mine.map((c) => (c.choices as { prompt_token_ids: unknown }[])[0]!.prompt_token_ids);
          expect(Array.isArray(ids[0]) && (ids[0] as unknown[]).length > 0).toBe(true);
          expect(ids.slice(1).every((x) => x === null)).toBe(true);
        }
        if (includeUsage)
          expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number) } });
        else expect(chunks.every((c) => c.usage === null)).toBe(true);
      });
    }
  }

  it("servelab's timing object only when the request asks for it", async () => {
    const body = {
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
      stream_options: { include_usage: true },
    };
    const plain = await events(url('plain'), CHAT, body);
    expect('servelab' in plain.chunks.at(-1)!).toBe(false);
    const asked = await events(url('plain'), CHAT, body, { 'x-servelab-timing': '1' });
    expect(asked.chunks.at(-1)!.servelab).toMatchObject({ arrival_ms: expect.any(Number) });
    const whole = (await (
      await fetch(`${url('plain')}${CHAT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
      })
    ).json()) as Record<string, unknown>;
    expect('servelab' in whole).toBe(false);
    expect((whole.choices as { message: Record<string, unknown> }[])[0]!.message).not.toHaveProperty(
      'reasoning',
    );
  });
});

describe('the role chunk comes with the first token', () => {
  it('8k-token prompt: role chunk within a few ms of the first content chunk, after prefill', async () => {
    const r = await fetch(`${url('plain')}${CHAT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-servelab-timing': '1' },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: 'alpha beta gamma delta '.repeat(2048) }],
        max_tokens: 8,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const sentMs = performance.now();
    const arrivals: { ms: number; ev: Record<string, unknown> }[] = [];
    let buf = '';
    const dec = new TextDecoder();
    for await (const part of r.body!) {
      const now = performance.now();
      buf += dec.decode(part, { stream: true });
      let k = buf.indexOf('\n\n');
      while (k >= 0) {
        const e = buf.slice(0, k);
        buf = buf.slice(k + 2);
        if (e !== 'data: [DONE]') arrivals.push({ ms: now, ev: JSON.parse(e.slice(6)) });
        k = buf.indexOf('\n\n');
      }
    }
    const usage = arrivals.at(-1)!.ev;
    expect((usage.usage as { prompt_tokens: number }).prompt_tokens).toBeGreaterThan(8000);
    const timing = usage.servelab as { arrival_ms: number; first_token_ms: number };
    const prefillMs = timing.first_token_ms - timing.arrival_ms;
    // an 8k prefill is a long step (tens of ms even at stepTimeScale 0.2)
    expect(prefillMs).toBeGreaterThan(10);
    const role = arrivals[0]!;
    expect((role.ev.choices as { delta: unknown }[])[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const firstContent = arrivals.find((a) => {
      const d = (a.ev.choices as { delta?: { content?: string } }[])[0]?.delta;
      return typeof d?.content === 'string' && d.content.length > 0;
    })!;
    // written in the same tick as the first token: same read, or a few ms apart on a busy host
    expect(firstContent.ms - role.ms).toBeLessThan(25);
    // and not at arrival: at least most of the prefill has passed (headers came back at arrival)
    expect(role.ms - sentMs).toBeGreaterThan(0.5 * prefillMs);
  });

  it("servelab's client: first-chunk TTFT equals first-token TTFT within a few ms", async () => {
    const t = createHttpTransport();
    try {
      const res = await t.call({
        endpoint: { baseUrl: `${url('plain')}/v1`, model: MODEL },
        api: 'chat',
        // not the previous test's prompt: a prefix-cache hit would make the prefill short
        messages: [{ role: 'user', content: 'epsilon zeta eta theta '.repeat(2048) }],
        stream: true,
        maxTokens: 8,
      });
      expect(res.status).toBe('ok');
      expect(res.usage!.promptTokens).toBeGreaterThan(8000);
      expect(res.serverFirstTokenMs).toBeDefined();
      const ttftChunk = res.firstChunkMs! - res.sentMs;
      const ttftToken = res.firstTokenMs! - res.sentMs;
      expect(ttftToken).toBeGreaterThan(10);
      expect(ttftToken - ttftChunk).toBeLessThan(25);
      // both after the server's first token, not at the HTTP round trip
      expect(res.firstChunkMs!).toBeGreaterThanOrEqual(res.serverFirstTokenMs! - 5);
    } finally {
      await t.close();
    }
  });
});

describe('usage details, /v1/models, errors', () => {
  it('prompt_tokens_details only with enablePromptTokensDetails, and only when tokens were cached', async () => {
    const body = {
      messages: [{ role: 'user', content: 'the same long prompt '.repeat(60) }],
      max_tokens: 4,
      stream_options: { include_usage: true },
    };
    await events(url('plain'), CHAT, body);
    const again = await events(url('plain'), CHAT, body);
    expect(again.chunks.at(-1)!.usage).not.toHaveProperty('prompt_tokens_details');
    const on = await startSimServers({
      servers: [{ model: MODEL, port: 0, maxModelLen: 4096, stepTimeScale: 0.2 }],
      enablePromptTokensDetails: true,
    });
    try {
      const u = on.endpoints[0]!.url;
      const first = await events(u, CHAT, body);
      expect(first.chunks.at(-1)!.usage).not.toHaveProperty('prompt_tokens_details');
      const second = await events(u, CHAT, body);
      const cached = (second.chunks.at(-1)!.usage as { prompt_tokens_details: { cached_tokens: number } })
        .prompt_tokens_details.cached_tokens;
      expect(cached).toBeGreaterThan(100);
    } finally {
      await on.close();
    }
  });

  it('/v1/models: permission is a list of one ModelPermission, as vLLM fills it', async () => {
    const m = (await (await fetch(`${url('plain')}/v1/models`)).json()) as {
      data: { permission: Record<string, unknown>[] }[];
    };
    const p = m.data[0]!.permission;
    expect(p).toHaveLength(1);
    expect(p[0]).toEqual({
      id: expect.stringMatching(/^modelperm-[0-9a-f]{32}$/),
      object: 'model_permission',
      created: expect.any(Number),
      allow_create_engine: false,
      allow_sampling: true,
      allow_logprobs: true,
      allow_search_indices: false,
      allow_view: true,
      allow_fine_tuning: false,
      organization: '*',
      group: null,
      is_blocking: false,
    });
  });

  it("the context-length 400 in vLLM 0.11's words (chat adds its cause, None)", async () => {
    const post = async (path: string, body: Record<string, unknown>) => {
      const r = await fetch(`${url('plain')}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, ...body }),
      });
      expect(r.status).toBe(400);
      return ((await r.json()) as { error: { message: string; type: string; code: number } }).error;
    };
    const chat = await post(CHAT, { messages: [{ role: 'user', content: 'x' }], max_tokens: 20000 });
    expect(chat.message).toMatch(
      /^'max_tokens' or 'max_completion_tokens' is too large: 20000\. This model's maximum context length is 16384 tokens and your request has (\d+) input tokens \(20000 > 16384 - \1\)\. None$/,
    );
    expect(chat).toMatchObject({ type: 'BadRequestError', code: 400 });
    const long = await post(COMPLETIONS, { prompt: 'word '.repeat(17000) });
    expect(long.message).toMatch(
      /^This model's maximum context length is 16384 tokens\. However, your request has \d+ input tokens\. Please reduce the length of the input messages\.$/,
    );
  });
});

describe('request bodies over the limit', () => {
  let small: SimServers;
  const LIMIT = 1024 * 1024;
  beforeAll(async () => {
    small = await startSimServers({
      servers: [{ model: MODEL, port: 0, maxModelLen: 4096, stepTimeScale: 0.2 }],
      maxBodyBytes: LIMIT,
    });
  });
  afterAll(() => small.close());

  /** a raw HTTP/1.1 POST over a real socket; resolves with what the server sent before closing */
  function rawPost(head: string, bodyChunks: (() => Buffer | undefined) | undefined): Promise<string> {
    const port = small.endpoints[0]!.port;
    return new Promise((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let got = '';
      let answered = false;
      sock.setEncoding('utf8');
      sock.on('data', (t: string) => {
        got += t;
        answered = true;
      });
      const finish = () => resolve(got);
      sock.on('close', finish);
      sock.on('error', () => {});
      sock.write(head, () => {
        const pump = () => {
          if (answered || sock.destroyed || !bodyChunks) return;
          const b = bodyChunks();
          if (!b) return;
          if (sock.write(b)) setImmediate(pump);
          else sock.once('drain', pump);
        };
        pump();
      });
    });
  }

  function parse413(raw: string): unknown {
    expect(raw.startsWith('HTTP/1.1 413')).toBe(true);
    return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  }

  it('a Content-Length over the limit gets 413 before the body is sent, as a vLLM error body', async () => {
    const raw = await rawPost(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${50 * 1024 * 1024}\r\n\r\n`,
      undefined,
    );
    expect(parse413(raw)).toEqual({
      error: {
        message: expect.stringMatching(/Content-Length 52428800 bytes.*at most 1048576 bytes/),
        type: 'RequestEntityTooLargeError',
        param: null,
        code: 413,
      },
    });
  });

  it('chunked uploads are counted as they arrive; /health answers while three are refused', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const uploads = [0, 1, 2].map(() => {
      let sent = 0;
      return rawPost(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
        () => {
          if (sent >= 40 * 1024 * 1024) return undefined;
          sent += chunk.length;
          return Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
        },
      );
    });
    const health = await fetch(`${small.endpoints[0]!.url}/health`);
    expect(health.status).toBe(200);
    for (const raw of await Promise.all(uploads)) {
      expect(parse413(raw)).toMatchObject({
        error: {
          type: 'RequestEntityTooLargeError',
          code: 413,
          message: expect.stringMatching(/more than 1048576 bytes/),
        },
      });
    }
    // the server still serves normal requests afterwards
    const ok = await fetch(`${small.endpoints[0]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
    });
    expect(ok.status).toBe(200);
  });
});

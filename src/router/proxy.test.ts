import OpenAI from 'openai';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { BACKEND_HEADER, QUEUE_MS_HEADER, type RouterServer, startRouter } from './index.js';
import { type RecordingBackend, startRecordingBackend } from './testing/recording-backend.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function recording(): Promise<RecordingBackend> {
  const b = await startRecordingBackend();
  cleanups.push(() => b.close());
  return b;
}

/** the router with its loop effectively off: the tests tick it themselves (tickNow) */
async function router(
  backends: string[],
  o: Parameters<typeof startRouter>[0] extends infer T ? Partial<T> : never = {},
) {
  const r = await startRouter({ backends, port: 0, intervalMs: 3_600_000, decodeReserveTokens: 0, ...o });
  cleanups.push(() => r.close());
  return r;
}

async function chat(r: RouterServer, body: Record<string, unknown>) {
  const res = await request(`${r.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, ...body }),
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, bytes };
}

async function getJson(url: string): Promise<Record<string, Record<string, unknown>>> {
  const res = await request(url);
  return (await res.body.json()) as Record<string, Record<string, unknown>>;
}

describe('router HTTP proxy', () => {
  it('strips program_id before the backend sees it, keeps job_id, and passes the stream byte for byte', async () => {
    const b = await recording();
    const r = await router([b.url]);
    const out = await chat(r, { program_id: 'task-7', job_id: 'task-7', temperature: 1 });
    expect(out.status).toBe(200);
    expect(out.bytes.equals(b.streamBytes)).toBe(true);
    expect(out.headers['content-type']).toBe('text/event-stream');
    expect(out.headers[QUEUE_MS_HEADER]).toBe('0');
    expect(out.headers[BACKEND_HEADER]).toBe(b.url);
    expect(b.bodies).toHaveLength(1);
    expect(b.bodies[0]).not.toHaveProperty('program_id');
    expect(b.bodies[0]).toMatchObject({ job_id: 'task-7', temperature: 1, stream: true });
    // the usage chunk the backend sent set the program's size: 120 + 3
    const programs = await getJson(`${r.url}/programs`);
    expect(programs['task-7']).toMatchObject({
      total_tokens: 123,
      tokens_from: 'usage',
      step_count: 1,
      status: 'acting',
      state: 'active',
      backend: b.url,
      queue_ms_total: 0,
    });
  });

  it('does not buffer the stream: the first piece reaches the client before the backend wrote the rest', async () => {
    const b = await recording();
    b.set({ gapMs: 200 });
    const r = await router([b.url]);
    const res = await request(`${r.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [], stream: true, program_id: 'p' }),
    });
    const writtenAtFirstChunk: number[] = [];
    for await (const _ of res.body) writtenAtFirstChunk.push(b.piecesWritten());
    expect(writtenAtFirstChunk[0]).toBeLessThan(5);
    expect(writtenAtFirstChunk.length).toBeGreaterThan(1);
  });

  it('passes a backend error through with its status and body', async () => {
    const b = await recording();
    const r = await router([b.url]);
    const body =
      '{"error":{"message":"This model\'s maximum context length is 2048 tokens.","type":"BadRequestError","param":null,"code":400}}';
    b.failNext(400, body);
    const out = await chat(r, { program_id: 'p' });
    expect(out.status).toBe(400);
    expect(out.bytes.toString('utf8')).toBe(body);
    // a failed call still ends: the program is ACTING, sized from the request (no usage)
    expect((await getJson(`${r.url}/programs`)).p).toMatchObject({
      status: 'acting',
      tokens_from: 'estimate',
    });
  });

  it('pauses a program, holds its next call at the router, and reports the wait (header and /programs)', async () => {
    const b = await recording();
    b.set({ numGpuBlocks: 100, blockSize: 16 }); // 1600 tokens
    const r = await router([b.url]);
    await chat(r, { program_id: 'p1' }); // 123 tokens after the usage chunk
    b.set({ numGpuBlocks: 5 }); // 80 tokens: p1 (ACTING) no longer fits
    await r.tickNow();
    expect((await getJson(`${r.url}/programs`)).p1).toMatchObject({ state: 'paused', pauses: 1 });
    const pending = chat(r, { program_id: 'p1' });
    await new Promise((res) => setTimeout(res, 150));
    expect(b.bodies).toHaveLength(1); // still held
    expect((await getJson(`${r.url}/health`)).status).toBe('ok');
    b.set({ numGpuBlocks: 100 });
    await r.tickNow();
    const out = await pending;
    expect(out.status).toBe(200);
    expect(b.bodies).toHaveLength(2);
    const waited = Number(out.headers[QUEUE_MS_HEADER]);
    expect(waited).toBeGreaterThanOrEqual(140);
    const p1 = (await getJson(`${r.url}/programs`)).p1!;
    expect(p1).toMatchObject({ state: 'active', queued_calls: 1, resumes: 1, step_count: 2 });
    expect(p1.queue_ms_total).toBeCloseTo(waited, -1);
  });

  it('a call given up while it waits never reaches the backend', async () => {
    const b = await recording();
    const r = await router([b.url]);
    await chat(r, { program_id: 'p1' });
    b.set({ numGpuBlocks: 5 });
    await r.tickNow();
    const ac = new AbortController();
    const pending = request(`${r.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [], program_id: 'p1' }),
      signal: ac.signal,
    }).catch((e: Error) => e);
    await new Promise((res) => setTimeout(res, 50));
    expect((await getJson(`${r.url}/programs`)).p1).toMatchObject({ calls_waiting: 1, status: 'reasoning' });
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    await new Promise((res) => setTimeout(res, 50));
    expect((await getJson(`${r.url}/programs`)).p1).toMatchObject({ calls_waiting: 0, status: 'acting' });
    b.set({ numGpuBlocks: 100 });
    await r.tickNow();
    expect(b.bodies).toHaveLength(1);
  });

  it('a backend gone after start: 502 naming it, and the call ends', async () => {
    const b = await recording();
    const r = await router([b.url]);
    await b.close();
    cleanups.splice(0, 1);
    const out = await chat(r, { program_id: 'p' });
    expect(out.status).toBe(502);
    expect(JSON.parse(out.bytes.toString()).error.message).toMatch(
      new RegExp(`backend ${b.url.replace(/[.:/]/g, '\\$&')} did not answer: ECONNREFUSED`),
    );
    expect((await getJson(`${r.url}/programs`)).p).toMatchObject({ calls_in_flight: 0, status: 'acting' });
  });

  it('POST /programs/release frees the program; a second release says released: false', async () => {
    const b = await recording();
    const r = await router([b.url]);
    await chat(r, { program_id: 'done-1' });
    const rel = async () =>
      (await request(`${r.url}/programs/release`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ program_id: 'done-1' }),
      }).then((x) => x.body.json())) as Record<string, unknown>;
    expect(await rel()).toEqual({ program_id: 'done-1', released: true });
    expect(await getJson(`${r.url}/programs`)).toEqual({});
    expect(await rel()).toEqual({ program_id: 'done-1', released: false });
    const bad = await request(`${r.url}/programs/release`, { method: 'POST', body: '{}' });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { error: { message: string } }).error.message).toMatch(/program_id/);
  });

  it('refuses to start when a backend does not answer /metrics, naming it', async () => {
    const b = await recording();
    const dead = b.url;
    await b.close();
    cleanups.pop();
    await expect(startRouter({ backends: [dead], port: 0 })).rejects.toThrow(
      new RegExp(`backend not ready[\\s\\S]*${dead.replace(/[.:/]/g, '\\$&')}/metrics`),
    );
  });
});

describe('router in front of simulated engines, with the openai client', () => {
  let sim: SimServers;
  it('streams through the router, keeps a program on one backend, and spreads programs over two', async () => {
    sim = await startSimServers({
      servers: [{ model: MODEL, dp: 2, port: 0, maxModelLen: 2048, stepTimeMs: 1 }],
    });
    cleanups.push(() => sim.close());
    const r = await router(sim.endpoints.map((e) => e.url));
    const seen: Record<string, string[]> = {};
    const client = new OpenAI({
      baseURL: `${r.url}/v1`,
      apiKey: 'x',
      maxRetries: 0,
    });
    for (const step of [0, 1]) {
      for (const pid of ['a', 'b']) {
        // program_id is the router's field, not OpenAI's: the client sends unknown keys as they are
        const params = {
          model: MODEL,
          messages: [{ role: 'user', content: `program ${pid} step ${step} `.repeat(20) }],
          max_tokens: 8,
          stream: true,
          stream_options: { include_usage: true },
          program_id: pid,
        } as OpenAI.Chat.ChatCompletionCreateParamsStreaming;
        const { data: stream, response } = await client.chat.completions.create(params).withResponse();
        let text = '';
        let usage: OpenAI.CompletionUsage | null | undefined;
        for await (const ch of stream) {
          text += ch.choices[0]?.delta?.content ?? '';
          if (ch.usage) usage = ch.usage;
        }
        expect(text.length).toBeGreaterThan(0);
        expect(usage?.completion_tokens).toBeGreaterThan(0);
        seen[pid] = [...(seen[pid] ?? []), response.headers.get(BACKEND_HEADER)!];
      }
    }
    expect(seen.a![0]).toBe(seen.a![1]);
    expect(seen.b![0]).toBe(seen.b![1]);
    expect(seen.a![0]).not.toBe(seen.b![0]);
    // the simulator never saw program_id: its unknown-field counter has no program_id series
    const page = await (await request(`${sim.endpoints[0]!.url}/metrics`)).body.text();
    expect(page).not.toMatch(/servelab_sim_extra_fields_total\{[^}]*field="program_id"/);
    const programs = await getJson(`${r.url}/programs`);
    expect(programs.a).toMatchObject({ tokens_from: 'usage', step_count: 2, status: 'acting' });
    const health = await getJson(`${r.url}/health`);
    expect((health.backends as unknown as { capacity_tokens: number }[])[0]!.capacity_tokens).toBe(
      sim.endpoints[0]!.service.engine.config.numGpuBlocks *
        sim.endpoints[0]!.service.engine.config.blockSize,
    );
  });
});

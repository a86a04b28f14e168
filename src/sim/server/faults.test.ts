import { request } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFault, parseFaultRates } from '../faults.js';
import { type SimServers, startSimServers } from './index.js';
import { toyEngine } from './testing/toy-engine.js';

let sim: SimServers;
let url: string;

beforeAll(async () => {
  sim = await startSimServers({
    servers: [{ model: 'm', port: 0 }],
    createEngine: (o, clock) => toyEngine(clock, { model: o.model, stepMs: 1 }),
  });
  url = sim.endpoints[0]!.url;
});
afterAll(() => sim.close());

const BODY = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, ignore_eos: true };

function post(fault: string, stream: boolean, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-servelab-fault': fault },
    body: JSON.stringify({ ...BODY, stream }),
    signal,
  });
}

describe('fault injection via x-servelab-fault', () => {
  it('parses kinds and rates, rejecting bad ones', () => {
    expect(parseFault('stream_cut;4')).toEqual({ kind: 'stream_cut', afterChunks: 4 });
    expect(parseFault('slow_first_token')).toEqual({ kind: 'slow_first_token', delayMs: 2000 });
    expect(parseFault('nope')).toHaveProperty('error');
    expect(parseFaultRates('429=0.1, stream_cut;2=0.05')).toHaveLength(2);
    expect(() => parseFaultRates('429=2')).toThrow(/rate/);
  });

  it.each([
    ['429', 429],
    ['500', 500],
    ['503', 503],
    ['context_length', 400],
  ])('%s answers HTTP %d with a vLLM error body (openai sees a typed error)', async (fault, status) => {
    const r = await post(fault, false);
    expect(r.status).toBe(status);
    const body = (await r.json()) as { error: { message: string; type: string; code: number } };
    expect(body.error.code).toBe(status);
    if (status === 400) expect(body.error.message).toMatch(/maximum context length/);
    const c = new OpenAI({
      baseURL: `${url}/v1`,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-servelab-fault': fault },
    });
    await expect(c.chat.completions.create(BODY as never)).rejects.toBeInstanceOf(OpenAI.APIError);
  });

  it('an unknown fault kind is a 400 naming the header', async () => {
    const r = await post('bogus', false);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(
      /x-servelab-fault.*bogus/,
    );
  });

  it('slow_first_token delays the first content but not the role chunk', async () => {
    const t0 = performance.now();
    const r = await post('slow_first_token;150', true);
    const text = await r.text();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(text).toContain('data: [DONE]');
  });

  it('stream_cut destroys the socket after n chunks: the stream ends without [DONE]', async () => {
    const r = await post('stream_cut;3', true);
    let text = '';
    let failed = false;
    try {
      text = await r.text();
    } catch {
      failed = true;
    }
    expect(failed || !text.includes('[DONE]')).toBe(true);
  });

  it('malformed_chunk sends one non-JSON data line and the stream goes on', async () => {
    const text = await (await post('malformed_chunk;2', true)).text();
    const datas = text.split('\n\n').filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]');
    const bad = datas.filter((l) => {
      try {
        JSON.parse(l.slice(6));
        return false;
      } catch {
        return true;
      }
    });
    expect(bad).toHaveLength(1);
    expect(text).toContain('data: [DONE]');
  });

  it('missing_done ends the stream cleanly without [DONE]', async () => {
    const text = await (await post('missing_done', true)).text();
    expect(text).toContain('"finish_reason":"length"');
    expect(text).not.toContain('[DONE]');
  });

  it('hang never answers; a client disconnect leaves nothing running', async () => {
    await new Promise<void>((resolve) => {
      const req = request(
        `${url}/v1/chat/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'x-servelab-fault': 'hang' } },
        () => {
          throw new Error('hang answered');
        },
      );
      req.on('error', () => resolve());
      req.end(JSON.stringify(BODY));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    const snap = sim.endpoints[0]!.service.engine.snapshot();
    expect(snap.running).toBe(0);
  });

  it('a client disconnect mid-stream aborts the engine request', async () => {
    const ac = new AbortController();
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...BODY, max_tokens: 1000, stream: true }),
      signal: ac.signal,
    });
    const reader = r.body!.getReader();
    await reader.read();
    const svc = sim.endpoints[0]!.service;
    const abortsBefore = svc.engine.snapshot().counters.finished.abort;
    ac.abort();
    await new Promise((res) => setTimeout(res, 50));
    expect(svc.engine.snapshot().counters.finished.abort).toBe(abortsBefore + 1);
    expect(svc.engine.snapshot().running).toBe(0);
  });
});

describe('fault injection by rate', () => {
  it('injects the configured share of faults, seeded, and counts them on /metrics', async () => {
    const s = await startSimServers({
      servers: [{ model: 'm', port: 0 }],
      faultRates: parseFaultRates('503=0.5'),
      seed: 3,
      createEngine: (o, clock) => toyEngine(clock, { model: o.model, stepMs: 1 }),
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const r = await fetch(`${s.endpoints[0]!.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...BODY, max_tokens: 2 }),
        });
        await r.text();
        statuses.push(r.status);
      }
      const n503 = statuses.filter((x) => x === 503).length;
      expect(n503).toBeGreaterThan(8);
      expect(n503).toBeLessThan(32);
      expect(statuses.filter((x) => x !== 503 && x !== 200)).toEqual([]);
      const m = await (await fetch(`${s.endpoints[0]!.url}/metrics`)).text();
      expect(m).toContain(
        `servelab_sim_faults_injected_total{engine="0",model_name="m",kind="http_error"} ${n503}.0`,
      );
    } finally {
      await s.close();
    }
  });
});

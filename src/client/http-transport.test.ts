import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRequest } from '../loadgen/transport.js';
import { createHttpTransport, type HttpTransport } from './http-transport.js';
import { type Script, type ScriptServer, startScriptServer } from './testing/sse-server.js';

let srv: ScriptServer;
let t: HttpTransport;
beforeAll(async () => {
  srv = await startScriptServer();
  t = createHttpTransport({
    apiKey: 'sk-secret',
    headers: { 'x-team': 'a' },
    extraBody: { program_id: 'p1' },
  });
});
afterAll(async () => {
  await t.close();
  await srv.close();
});

function req(script: Script, over: Partial<CallRequest> = {}): CallRequest {
  return {
    endpoint: { baseUrl: srv.url, model: 'm' },
    api: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    maxTokens: 16,
    extraHeaders: { 'x-test': JSON.stringify(script) },
    ...over,
  };
}

describe('createHttpTransport: streamed answers', () => {
  it('times every chunk, separates first chunk from first token, reads usage and the server time', async () => {
    const r = await t.call(req({ chunks: 5, gapMs: 3, firstDelayMs: 20 }));
    expect(r.status).toBe('ok');
    expect(r.text).toBe(' the the the the the');
    expect(r.chunkMs).toHaveLength(5);
    expect(r.firstChunkMs!).toBeLessThan(r.firstTokenMs!);
    // the server waits 20 ms after the role chunk; a loaded machine may read the role chunk late
    expect(r.firstTokenMs! - r.sentMs).toBeGreaterThanOrEqual(18);
    expect(r.firstTokenMs).toBe(r.chunkMs[0]);
    expect(r.lastTokenMs).toBe(r.chunkMs[4]);
    for (let i = 1; i < 5; i++) expect(r.chunkMs[i]!).toBeGreaterThanOrEqual(r.chunkMs[i - 1]!);
    expect(r.endMs).toBeGreaterThanOrEqual(r.lastTokenMs!);
    expect(r.usage).toEqual({ promptTokens: 7, completionTokens: 5, cachedTokens: 3 });
    expect(r.finishReason).toBe('stop');
    expect(Math.abs(r.firstTokenMs! - r.serverFirstTokenMs!)).toBeLessThan(50);
    expect(r.quirks).toEqual([]);
  });

  it('sends the bearer key, include_usage, extra headers and extra body fields', async () => {
    await t.call(req({}, { extraBody: { job_id: 'j' }, minTokens: 4, ignoreEos: true }));
    const last = srv.seen.at(-1)!;
    expect(last.headers.authorization).toBe('Bearer sk-secret');
    expect(last.headers['x-team']).toBe('a');
    // asks servelab's simulator for its timing object (a vLLM ignores the header)
    expect(last.headers['x-servelab-timing']).toBe('1');
    expect(last.body).toMatchObject({
      model: 'm',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 16,
      min_tokens: 4,
      ignore_eos: true,
      program_id: 'p1',
      job_id: 'j',
    });
  });

  it('moves a <think> block to reasoning and flags it; a length cut inside think too', async () => {
    const a = await t.call(req({ mode: 'think', chunks: 3 }));
    expect(a.text).toBe('answer');
    expect(a.reasoning).toBe('hmm more');
    expect(a.quirks).toContain('think_in_content');
    const b = await t.call(req({ mode: 'think_cut', chunks: 3 }));
    expect(b.finishReason).toBe('length');
    expect(b.text).toBe('');
    expect(b.quirks).toEqual(expect.arrayContaining(['think_in_content', 'length_cut_inside_think']));
  });

  it('reads reasoning_content with content null (gpt-oss) and counts it as tokens', async () => {
    const r = await t.call(req({ mode: 'reasoning', chunks: 3 }));
    expect(r.text).toBe('');
    expect(r.reasoning).toBe(' r0 r1 r2');
    expect(r.firstTokenMs).toBeDefined();
    expect(r.quirks).toContain('content_null_with_reasoning');
  });

  it('assembles tool calls from fragments by index', async () => {
    const r = await t.call(req({ mode: 'tools', chunks: 4 }));
    expect(r.finishReason).toBe('tool_calls');
    expect(r.toolCalls).toEqual([
      {
        id: 'chatcmpl-tool-a1',
        type: 'function',
        function: { name: 'call_expert', arguments: '{"expert":"expert-1"}' },
      },
      { id: 'chatcmpl-tool-b2', type: 'function', function: { name: 'search', arguments: '{"q":"x"}' } },
    ]);
  });

  it('flags tool calls left as text, missing usage and impossible token counts', async () => {
    expect((await t.call(req({ mode: 'tool_text', chunks: 2 }))).quirks).toContain('tool_call_as_text');
    expect((await t.call(req({ mode: 'no_usage' }))).quirks).toContain('usage_missing');
    // 20 tokens reported while max_tokens was 16
    expect((await t.call(req({ chunks: 4, tokensPerChunk: 5 }))).quirks).toContain('token_count_mismatch');
  });

  it('keeps the connection alive across sequential streamed calls', async () => {
    let conns = 0;
    const onConn = () => {
      conns++;
    };
    const own = createHttpTransport();
    srv.server.on('connection', onConn);
    try {
      for (let k = 0; k < 5; k++) expect((await own.call(req({ chunks: 2 }))).status).toBe('ok');
    } finally {
      srv.server.off('connection', onConn);
      await own.close();
    }
    // a call may start before the pool has seen the previous response end: at most one spare
    expect(conns).toBeLessThanOrEqual(2);
  });

  it('completions API, streamed and not; chat not streamed', async () => {
    const c = await t.call(req({ chunks: 2 }, { api: 'completions', prompt: 'x', messages: undefined }));
    expect(c.status).toBe('ok');
    const n = await t.call(req({ chunks: 3 }, { stream: false }));
    expect(n).toMatchObject({ status: 'ok', text: ' the the the', usage: { completionTokens: 3 } });
    expect(n.serverFirstTokenMs).toBeDefined();
    const nr = await t.call(req({ mode: 'reasoning', chunks: 2 }, { stream: false }));
    expect(nr.quirks).toContain('content_null_with_reasoning');
  });
});

describe('createHttpTransport: every failure is a typed result', () => {
  it('refused names the port and the fix', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await t.call({ ...req({}), endpoint: { baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' } });
    expect(r.status).toBe('error');
    expect(r.error?.kind).toBe('refused');
    expect(r.error?.message).toContain(`nothing listens on 127.0.0.1:${port}`);
    expect(r.error?.message).toContain('SSH port forward');
  });

  it.each([
    [429, 'slow down', 'rate_limited', true],
    [500, 'oops', 'server_error', true],
    [503, 'busy', 'server_error', true],
    [400, "This model's maximum context length is 4096 tokens.", 'context_length', false],
    [400, 'bad temperature', 'bad_request', false],
  ])('HTTP %i -> %s', async (status, message, kind, retryable) => {
    const r = await t.call(req({ mode: 'status', status, message }));
    expect(r.status).toBe('error');
    expect(r.error).toMatchObject({ kind, httpStatus: status, retryable });
    expect(r.error?.message).toContain(message);
    expect(r.error?.message).not.toContain('sk-secret');
  });

  it('reset mid-stream, no [DONE], malformed chunk and an error in the stream are incomplete', async () => {
    const reset = await t.call(req({ mode: 'reset', chunks: 5, after: 2 }));
    expect(reset).toMatchObject({ status: 'incomplete', error: { kind: 'reset' } });
    expect(reset.chunkMs).toHaveLength(2);
    const nd = await t.call(req({ mode: 'no_done', chunks: 5, after: 3 }));
    expect(nd).toMatchObject({ status: 'incomplete', error: { kind: 'no_done' } });
    expect(nd.text).toBe(' the the the');
    const mal = await t.call(req({ mode: 'malformed', chunks: 5, after: 1 }));
    expect(mal).toMatchObject({ status: 'incomplete', error: { kind: 'malformed' } });
    const ie = await t.call(req({ mode: 'instream_error', chunks: 5, after: 1 }));
    expect(ie).toMatchObject({ status: 'incomplete', error: { kind: 'server_error' } });
    const ie0 = await t.call(req({ mode: 'instream_error', chunks: 5, after: 0 }));
    expect(ie0.status).toBe('error');
  });

  it('first-byte and total timeouts, and a caller abort, end the call', async () => {
    const fb = await t.call(req({ mode: 'hang' }, { timeouts: { firstByteMs: 50 } }));
    expect(fb).toMatchObject({ status: 'error', error: { kind: 'timeout_first_byte' } });
    const slow = await t.call(
      req({ chunks: 1, firstDelayMs: 300, roleChunk: false }, { timeouts: { firstByteMs: 50 } }),
    );
    expect(slow.error?.kind).toBe('timeout_first_byte');
    const tot = await t.call(req({ chunks: 50, gapMs: 10 }, { timeouts: { totalMs: 80 } }));
    expect(tot).toMatchObject({ status: 'incomplete', error: { kind: 'timeout_total' } });
    expect(tot.chunkMs.length).toBeGreaterThan(0);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 60);
    const ab = await t.call(req({ chunks: 50, gapMs: 10 }, { signal: ac.signal }));
    expect(ab).toMatchObject({ status: 'incomplete', error: { kind: 'aborted', retryable: false } });
    const ac2 = new AbortController();
    ac2.abort();
    expect((await t.call(req({}, { signal: ac2.signal }))).error?.kind).toBe('aborted');
  });

  it('a stream that stops ends at the idle limit as timeout_idle, with what it had delivered', async () => {
    let reads = 0;
    const r = await t.call(
      req({ mode: 'stall', chunks: 5, after: 2 }, { timeouts: { idleMs: 150 }, onActivity: () => reads++ }),
    );
    expect(r).toMatchObject({ status: 'incomplete', error: { kind: 'timeout_idle', retryable: true } });
    expect(r.error?.message).toContain('no byte for 150 ms (idle timeout)');
    expect(r.chunkMs).toHaveLength(2);
    expect(r.endMs - r.lastTokenMs!).toBeGreaterThanOrEqual(140);
    // the headers and at least one read of the body were signs of life
    expect(reads).toBeGreaterThanOrEqual(2);
  });

  it('the idle limit lets a slow, steady stream finish; a first-byte limit past 2^31 ms is no 1 ms timer', async () => {
    const r = await t.call(req({ chunks: 6, gapMs: 20 }, { timeouts: { idleMs: 2000 } }));
    expect(r.status).toBe('ok');
    expect(r.chunkMs).toHaveLength(6);
    const far = await t.call(
      req({ chunks: 2 }, { timeouts: { firstByteMs: 2 ** 31 + 5, totalMs: 2 ** 32 } }),
    );
    expect(far.status).toBe('ok');
  });

  it('the idle limit also covers the body of a non-streamed answer and a server that never answers', async () => {
    const hang = await t.call(
      req({ mode: 'hang' }, { stream: false, timeouts: { firstByteMs: 100, idleMs: 100 } }),
    );
    expect(hang).toMatchObject({ status: 'error', error: { kind: 'timeout_first_byte' } });
  });

  it("keeps the head and the length of a server's 5 MB JSON error message, not the message", async () => {
    const big = 'x'.repeat(1024);
    const r = await t.call(req({ mode: 'status', status: 500, message: big, messageRepeat: 5 * 1024 }));
    expect(r).toMatchObject({ status: 'error', error: { kind: 'server_error', httpStatus: 500 } });
    expect(r.error!.message.length).toBeLessThan(1000);
    expect(r.error!.message).toContain(`HTTP 500: ${'x'.repeat(500)}...`);
    expect(r.error!.messageChars).toBe(5 * 1024 * 1024);
    // a short message is kept whole and has no length field
    const small = await t.call(req({ mode: 'status', status: 500, message: 'oops' }));
    expect(small.error?.messageChars).toBeUndefined();
  });

  it('cuts a long finish_reason from the server', async () => {
    const r = await t.call(req({ chunks: 1, finishReason: 'z'.repeat(10_000) }));
    expect(r.finishReason).toBe(`${'z'.repeat(64)}...`);
  });

  it('a bad base URL is an error result, not a throw', async () => {
    const r = await t.call({ ...req({}), endpoint: { baseUrl: 'localhost:8000/v1', model: 'm' } });
    expect(r.status).toBe('error');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport, type HttpTransport } from './client/http-transport.js';
import { type ScriptServer, startScriptServer } from './client/testing/sse-server.js';
import { MAX_TIMER_MS, safeTimeoutMs, setTimer } from './timers.js';

describe('safeTimeoutMs / setTimer', () => {
  it('clamps delays a Node timer cannot hold and rejects NaN', () => {
    expect(safeTimeoutMs(2_200_000 * 1000)).toBe(MAX_TIMER_MS);
    expect(safeTimeoutMs(1e300 * 1000)).toBe(MAX_TIMER_MS);
    expect(safeTimeoutMs(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(safeTimeoutMs(-5)).toBe(0);
    expect(safeTimeoutMs(1500)).toBe(1500);
    expect(() => safeTimeoutMs(Number.NaN)).toThrow(/NaN/);
  });

  it('a delay of 2^31 ms or more does not fire at once (a raw setTimeout fires after 1 ms)', async () => {
    let fired = false;
    const t = setTimer(
      () => {
        fired = true;
      },
      2 ** 31 + 5,
    );
    await new Promise((r) => setTimeout(r, 30));
    clearTimeout(t);
    expect(fired).toBe(false);
  });
});

describe('a very long request timeout over real HTTP', () => {
  let srv: ScriptServer;
  let tr: HttpTransport;
  beforeAll(async () => {
    srv = await startScriptServer();
    tr = createHttpTransport({});
  });
  afterAll(async () => {
    await tr.close();
    await srv.close();
  });

  it('bench --timeout 2200000 (s): the request completes instead of timing out after 1 ms', async () => {
    const r = await tr.call({
      endpoint: { baseUrl: srv.url, model: 'm' },
      api: 'chat',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      maxTokens: 8,
      extraHeaders: { 'x-test': JSON.stringify({ chunks: 3, firstDelayMs: 20 }) },
      timeouts: { totalMs: 2_200_000 * 1000, firstByteMs: 2_200_000 * 1000 },
    });
    expect(r.status).toBe('ok');
  });
});

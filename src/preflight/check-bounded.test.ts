import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptServer, startScriptServer } from '../client/testing/sse-server.js';
import { fetchTextUndici } from '../metrics/fetch.js';
import { checkEndpoints, MAX_SERVED_LISTED } from './check.js';
import { renderCheckReport } from './render.js';

let srv: ScriptServer;
beforeAll(async () => {
  srv = await startScriptServer();
});
afterAll(async () => srv.close());

describe("check output keeps a bounded copy of a server's text", () => {
  it('a smoke call answered with a 5 MB JSON error: the problem quotes its head and says how long it was', async () => {
    const script = { mode: 'status', status: 500, message: 'c'.repeat(1024), messageRepeat: 5120 };
    const report = await checkEndpoints({
      endpoints: [{ url: srv.url, model: 'm', headers: { 'x-test': JSON.stringify(script) } }],
      gpu: false,
    });
    const ep = report.endpoints[0]!;
    expect(ep.stages.chat?.status).toBe('fail');
    const chat = ep.problems.find((p) => p.message.startsWith('chat completion failed'));
    expect(chat?.message).toContain(`HTTP 500: ${'c'.repeat(500)}... (5242880 characters)`);
    expect(chat!.message.length).toBeLessThan(1000);
    expect(JSON.stringify(report).length).toBeLessThan(20_000);
  });
});

describe("/health, /v1/models and /version text is capped as the client caps a server's message", () => {
  const BIG = 5 * 1024 * 1024;
  let big: Server;
  let url: string;
  beforeAll(async () => {
    big = createServer((req, res) => {
      if (req.url === '/health') {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('h'.repeat(BIG));
      } else if (req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const names = [`m${'n'.repeat(BIG)}`, ...Array.from({ length: 200 }, (_, i) => `model-${i}`)];
        res.end(JSON.stringify({ object: 'list', data: names.map((id) => ({ id, object: 'model' })) }));
      } else if (req.url === '/version') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ version: `0.11.${'9'.repeat(BIG)}` }));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(big.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => big.close(() => r())));

  it('a 5 MB /health error body: fetchText keeps its head, the message quotes 500 characters and the length', async () => {
    const r = await fetchTextUndici(`${url}/health`, { timeoutMs: 10_000 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.status).toBe(503);
    expect(r.message).toBe(`HTTP 503: ${'h'.repeat(500)}... (${BIG} characters)`);
    expect(r.text!.length).toBeLessThanOrEqual(64 * 1024);
  });

  it('check against a 5 MB /health body, a 5 MB served name among 201 and a 5 MB version: a bounded report', async () => {
    const report = await checkEndpoints({
      endpoints: [{ url, model: 'model-7' }],
      gpu: false,
      smoke: false,
      httpTimeoutMs: 10_000,
    });
    const ep = report.endpoints[0]!;
    const health = ep.problems.find((p) => p.code === 'health_failed');
    expect(health?.message).toBe(`/health: HTTP 503: ${'h'.repeat(500)}... (${BIG} characters)`);
    expect(ep.stages.models?.status).toBe('ok');
    expect(ep.served).toHaveLength(MAX_SERVED_LISTED);
    expect(ep.servedCount).toBe(201);
    expect(ep.served[0]).toBe(`m${'n'.repeat(499)}... (${BIG + 1} characters)`);
    expect(ep.version).toMatch(/^0\.11\.9+\.\.\. \(\d+ characters\)$/);
    expect(JSON.stringify(report).length).toBeLessThan(40_000);
    expect(renderCheckReport(report).length).toBeLessThan(40_000);
  });

  it('an expected model not among 201 names: the problem lists the first names and how many more', async () => {
    const report = await checkEndpoints({
      endpoints: [{ url, model: 'not-there' }],
      gpu: false,
      smoke: false,
      httpTimeoutMs: 10_000,
    });
    const p = report.endpoints[0]!.problems.find((x) => x.code === 'model_not_served');
    expect(p?.message).toMatch(/"model-48" and 151 more$/);
    expect(p!.message.length).toBeLessThan(3000);
  });
});

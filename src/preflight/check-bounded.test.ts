import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptServer, startScriptServer } from '../client/testing/sse-server.js';
import { checkEndpoints } from './check.js';

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

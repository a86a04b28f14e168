import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { startSimServers } from '../../sim/server/index.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const routerLine = (out: string[]) =>
  out
    .join('')
    .split('\n')
    .find((l) => l.startsWith('router\t'));

async function callThrough(url: string, programId: string) {
  const oa = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const params = {
    model: MODEL,
    messages: [{ role: 'user', content: 'hello there' }],
    max_tokens: 3,
    program_id: programId,
  } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
  const r = await oa.chat.completions.create(params);
  expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  const programs = (await (await fetch(`${url}/programs`)).json()) as Record<string, { tokens_from: string }>;
  expect(programs[programId]).toMatchObject({ tokens_from: 'usage', status: 'acting' });
}

describe('servelab sim --router', () => {
  it('--model --dp 2: starts two simulated engines on free ports and the router on --port', async () => {
    const ac = new AbortController();
    const c = captureIo({ signal: ac.signal });
    const run = runMain(
      ['sim', '--router', '--model', MODEL, '--dp', '2', '--port', '0', '--router-interval', '0.05'],
      c.io,
    );
    await waitFor(() => routerLine(c.out) !== undefined);
    const url = routerLine(c.out)!.split('\t')[1]!;
    expect(
      c.out
        .join('')
        .split('\n')
        .filter((l) => l.startsWith(`${MODEL}\t`)),
    ).toHaveLength(2);
    expect(c.err.join('')).toMatch(/router \(tr\) on http:\/\/127\.0\.0\.1:\d+ in front of http.*, http/);
    await callThrough(url, 'prog-1');
    const health = (await (await fetch(`${url}/health`)).json()) as {
      backends: { capacity_tokens: number }[];
    };
    expect(health.backends).toHaveLength(2);
    expect(health.backends[0]!.capacity_tokens).toBeGreaterThan(0);
    ac.abort();
    expect(await run).toBe(EXIT.ok);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('--backends: in front of servers already running, in kv-threshold mode', async () => {
    const sim = await startSimServers({ servers: [{ model: MODEL, port: 0, maxModelLen: 2048 }] });
    try {
      const ac = new AbortController();
      const c = captureIo({ signal: ac.signal });
      const run = runMain(
        [
          'sim',
          '--router',
          '--backends',
          `${sim.endpoints[0]!.url}/v1`,
          '--port',
          '0',
          '--router-mode',
          'kv-threshold',
        ],
        c.io,
      );
      await waitFor(() => routerLine(c.out) !== undefined);
      const url = routerLine(c.out)!.split('\t')[1]!;
      await callThrough(url, 'prog-2');
      const health = (await (await fetch(`${url}/health`)).json()) as { mode: string };
      expect(health.mode).toBe('kv-threshold');
      ac.abort();
      expect(await run).toBe(EXIT.ok);
    } finally {
      await sim.close();
    }
  });

  it.each([
    [['--backends', 'http://127.0.0.1:1'], /--backends needs --router/],
    [['--router'], /--router needs --backends <urls> or --model/],
    [
      ['--router', '--model', MODEL, '--kv-resume-below', '0.97'],
      /--kv-resume-below 0.97 is above --kv-pause-at 0.95/,
    ],
    [
      ['--router', '--model', MODEL, '--router-mode', 'fast'],
      /--router-mode "fast" is not one of tr, kv-threshold/,
    ],
    [
      ['--router', '--backends', 'localhost:8000'],
      /router backend "localhost:8000" is not an http:\/\/host:port URL/,
    ],
  ])('bad flags %j: exit 2 naming the flag', async (args, msg) => {
    const c = captureIo({ signal: new AbortController().signal });
    expect(await runMain(['sim', ...args, '--port', '0'], c.io)).toBe(EXIT.usage);
    expect(c.err.join('')).toMatch(msg);
  });

  it('a backend that does not answer: exit 1 naming it, nothing left listening', async () => {
    const c = captureIo({ signal: new AbortController().signal });
    const code = await runMain(['sim', '--router', '--backends', 'http://127.0.0.1:1', '--port', '0'], c.io);
    expect(code).toBe(1);
    expect(c.err.join('')).toMatch(
      /router: backend not ready[\s\S]*http:\/\/127\.0\.0\.1:1\/metrics: connection refused/,
    );
  });
});

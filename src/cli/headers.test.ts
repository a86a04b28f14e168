import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { parseHeaders } from './headers.js';

describe('--header (one parser for bench, check and every command)', () => {
  it('reads name=value and name: value alike; the first = or : ends the name', () => {
    expect(
      parseHeaders(['X-Servelab-Fault=429', 'authorization: Bearer a:b=c', 'x-empty=', 'x-tag:run=1']),
    ).toEqual({
      'x-servelab-fault': '429',
      authorization: 'Bearer a:b=c',
      'x-empty': '',
      'x-tag': 'run=1',
    });
  });

  it('names the flag, the value and the syntax on bad input', () => {
    const err = (h: string) => {
      try {
        parseHeaders([h]);
      } catch (e) {
        return e as ServelabError;
      }
      throw new Error(`"${h}" was accepted`);
    };
    for (const h of ['novalue', '=v', 'bad name=v', 'x-a=1\r\nx-b: 2']) {
      const e = err(h);
      expect(e).toBeInstanceOf(ServelabError);
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain(`--header "${h}"`);
      expect(e.hint).toContain('--header name=value');
    }
  });
});

describe('bench and check take the same --header forms', () => {
  it('check sends name=value and "name: value" headers on its smoke calls', async () => {
    const { createServer } = await import('node:http');
    const { runMain } = await import('./main.js');
    const { captureIo } = await import('./testing/capture-io.js');
    const posts: Record<string, string | string[] | undefined>[] = [];
    const srv = createServer((req, res) => {
      if (req.method === 'POST') posts.push(req.headers);
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url?.startsWith('/v1/models')) res.end(JSON.stringify({ data: [{ id: 'm' }] }));
        else if (req.method === 'POST')
          res.end(
            JSON.stringify({
              choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
            }),
          );
        else res.end('{}');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
      const c = captureIo();
      const code = await runMain(
        ['check', url, '--header', 'x-a=1', '--header', 'X-B: two:2', '--no-gpu', '--timeout', '2s'],
        c.io,
      );
      expect(c.err.join('')).not.toMatch(/--header/);
      expect(code).not.toBe(2);
      expect(posts.length).toBeGreaterThan(0);
      expect(posts.every((h) => h['x-a'] === '1' && h['x-b'] === 'two:2')).toBe(true);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});

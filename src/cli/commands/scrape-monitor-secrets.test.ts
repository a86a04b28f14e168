/**
 * `scrape` and `monitor` register every key they were given (--api-key-env, --api-key-file,
 * --header, URL userinfo): a server that echoes the request's headers in its error bodies and in
 * its /metrics labels puts none of them into the output or the CSV.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

/** plain-looking values under plain names: only the commands' own registration can know them */
const K = {
  env: 'plain-value-env-42',
  file: 'plain-value-file-43',
  header: 'plain-value-hdr-44',
  url: 'plain-value-url-45',
};
const KEYS = Object.values(K);

/** every header value of the request, as a careless server quotes them */
const echo = (req: IncomingMessage) =>
  Object.entries(req.headers)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');

function listen(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const s = createServer(handler);
  return new Promise<{ server: Server; url: string }>((r) =>
    s.listen(0, '127.0.0.1', () =>
      r({ server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` }),
    ),
  );
}

let refusing: { server: Server; url: string };
let labelling: { server: Server; url: string };
const seen: string[] = [];
beforeAll(async () => {
  // /health and /metrics answer 401 quoting the request's headers
  refusing = await listen((req, res) => {
    seen.push(echo(req));
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `bad credentials: ${echo(req)}`, type: 'Unauthorized' } }));
  });
  // /metrics answers with two engines, one labelled with the bearer token it was sent
  labelling = await listen((req, res) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(
      [
        '# TYPE vllm:kv_cache_usage_perc gauge',
        `vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5`,
        `vllm:kv_cache_usage_perc{engine="${token}",model_name="m"} 0.25`,
        '',
      ].join('\n'),
    );
  });
});
afterAll(async () => {
  await new Promise((r) => refusing.server.close(r));
  await new Promise((r) => labelling.server.close(r));
});

function hits(text: string): string[] {
  return KEYS.filter((k) => text.includes(k));
}

describe('scrape and monitor scrub the keys they were given from what servers send back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-scrape-secrets-'));
  const keyFile = join(dir, 'key.txt');
  writeFileSync(keyFile, `${K.file}\nsecond line\n`);
  const withUserinfo = (u: string) => u.replace('http://', `http://user:${K.url}@`);

  it('scrape --api-key-env / --header: the 401 body and the engine label quoting them leave no key in output or CSV', async () => {
    const out = join(dir, 'kv.csv');
    const c = captureIo({ env: { SERVELAB_PLAIN: K.env }, cwd: dir });
    seen.length = 0;
    const code = await runMain(
      [
        'scrape',
        '--url',
        withUserinfo(refusing.url),
        '--url',
        labelling.url,
        '--api-key-env',
        'SERVELAB_PLAIN',
        '--header',
        `x-gateway=${K.header}`,
        '--header',
        `x-api-key=${K.header}`,
        '--interval',
        '200ms',
        '--duration',
        '700ms',
        '--out',
        out,
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    // the keys went out and came back
    expect(seen.join('\n')).toContain(`authorization=Bearer ${K.env}`);
    expect(seen.join('\n')).toContain(K.header);
    const printed = [...c.out, ...c.err].join('');
    expect(printed).toMatch(/\/metrics not answering \(http: HTTP 401: bad credentials: .*<redacted>/);
    const csv = readFileSync(out, 'utf8');
    expect(csv).toContain('vllm:kv_cache_usage_perc{engine="<redacted>"}');
    expect(hits(printed)).toEqual([]);
    expect(hits(csv)).toEqual([]);
  });

  it('scrape --api-key-file: the key file is read as its first line, sent and scrubbed', async () => {
    const out = join(dir, 'kv2.csv');
    const c = captureIo({ cwd: dir });
    const code = await runMain(
      [
        'scrape',
        '--url',
        labelling.url,
        '--api-key-file',
        keyFile,
        '--interval',
        '200ms',
        '--duration',
        '500ms',
        '--out',
        out,
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    const csv = readFileSync(out, 'utf8');
    expect(csv).toContain('{engine="<redacted>"}');
    expect(hits(csv)).toEqual([]);
    expect(hits([...c.out, ...c.err].join(''))).toEqual([]);
  });

  it('monitor: /health and /metrics refusing with the headers quoted show the reason, scrubbed', async () => {
    const c = captureIo({ env: { SERVELAB_PLAIN: K.env }, cwd: dir });
    seen.length = 0;
    const code = await runMain(
      [
        'monitor',
        '--url',
        withUserinfo(refusing.url),
        '--api-key-env',
        'SERVELAB_PLAIN',
        '--header',
        `x-api-key=${K.header}`,
        '--count',
        '1',
        '--no-gpu',
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    expect(seen.join('\n')).toContain(`authorization=Bearer ${K.env}`);
    const printed = [...c.out, ...c.err].join('');
    expect(printed).toMatch(/DOWN\s+HTTP 401: bad credentials: .*<redacted>/);
    expect(hits(printed)).toEqual([]);
  });
});

/**
 * Every channel a key reached a run directory or the output by (issue 11, "Secrets"): one grep
 * over everything a command wrote (the whole run directory, logs and reports included) and
 * printed finds no test key. All through runMain with injected IO; real servers on loopback:
 * `servelab sim` processes (the built CLI, standing in for `vllm serve --api-key`) and a server
 * that echoes the Authorization header in its error bodies. `npm test` builds dist/ first.
 */

import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../testing/free-port.js';
import { runMain } from './main.js';
import { captureIo } from './testing/capture-io.js';

const BIN = resolve('bin/servelab.js');
const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
/** the keys of each channel, all different, so a hit names its channel */
const K = {
  argv: 'sk-argv-4f1c9e2a7b3d5e60',
  file: 'sk-file-8a2b4c6d8e0f1a2b',
  plainEnv: 'Qx7Lm2Pz9Rt4Vw6Ny1Bk3Hs8Jd5Fg0CaUeYiOo',
  hfToken: 'hf_tokenvalue0123456789',
  envKey: 'sk-env-1b2c3d4e5f6a7b8c',
  header: 'sk-header-9e8d7c6b5a4f3e2d',
  url: 'sk-url-0a1b2c3d4e5f6a7b',
  body: 'sk-body-5e6f7a8b9c0d1e2f',
};

/** Every file under dir, recursively, and the captured output: where each key occurs. */
function hits(dir: string | undefined, printed: string[], keys: readonly string[]): string[] {
  const out: string[] = [];
  const look = (where: string, text: string) => {
    for (const k of keys) if (text.includes(k)) out.push(`${where}: ${k}`);
  };
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else look(p, readFileSync(p, 'utf8'));
    }
  };
  if (dir) walk(dir);
  look('stdout/stderr', printed.join(''));
  return out;
}

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p.slice(dir.length + 1));
    }
  };
  walk(dir);
  return out;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/**
 * An OpenAI-like server that answers /health and /v1/models, and every completion with an
 * error (401, then 500, alternating) whose message echoes the Authorization header and the
 * body's api_key, as some gateways do.
 */
async function echoServer(): Promise<string> {
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url === '/health') return send(200, {});
      if (url === '/version') return send(200, { version: 'echo-1' });
      if (url === '/v1/models')
        return send(200, { object: 'list', data: [{ id: 'echo-model', object: 'model' }] });
      let bodyKey = '';
      try {
        bodyKey = String(
          (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { api_key?: string }).api_key ?? '',
        );
      } catch {
        // not JSON: nothing to echo
      }
      const status = n++ % 2 === 0 ? 401 : 500;
      send(status, {
        object: 'error',
        message: `rejected Authorization "${req.headers.authorization ?? ''}" x-api-key "${req.headers['x-api-key'] ?? ''}" api_key "${bodyKey}"`,
        type: status === 401 ? 'AuthenticationError' : 'InternalServerError',
        code: status,
      });
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('secrets never reach a run directory or the output', () => {
  it('servelab run: --api-key in a recipe argv, apiKey file, env tokens and key-shaped env values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-secrets-run-'));
    // the apiKey file's first line is the key (the second line is not part of it)
    writeFileSync(join(dir, 'key.txt'), `${K.argv}\nnot part of the key\n`);
    const [orch, expert] = [await freePort(), await freePort()];
    const sim = (label: string, port: number, model: string, persona: string) => [
      `      - label: ${label}`,
      `        argv: ${JSON.stringify([process.execPath, BIN, 'sim', '--model', model, '--persona', persona, '--port', String(port), '--api-key', K.argv])}`,
      `        env: { EXTRA_SETTING: "${K.plainEnv}", HF_TOKEN: "${K.hfToken}" }`,
      `        port: ${port}`,
      `        health: http://127.0.0.1:${port}/health`,
    ];
    const spec = [
      'name: secrets',
      'servers:',
      '  vllm:',
      '    kind: command',
      '    healthTimeoutS: 60',
      '    processes:',
      ...sim('orchestrator', orch, ORCH, 'orchestrator'),
      ...sim('expert', expert, 'openai/gpt-oss-20b', 'gpt-oss'),
      '    endpoints:',
      `      "${ORCH}": [{ip_addr: "127.0.0.1", port: "${orch}"}]`,
      `      "openai/gpt-oss-20b": [{ip_addr: "127.0.0.1", port: "${expert}"}]`,
      '      oss_expert_mapping: { expert-1: "openai/gpt-oss-20b" }',
      'arms:',
      `  - { name: a, servers: vllm, extraBody: { api_key: "${K.body}" } }`,
      'workload:',
      '  generator:',
      '    count: 2',
      '    systemPromptTokens: 100',
      '    overrides: { retail: { userTurns: { min: 0, max: 0 } }, telecom: { userTurns: { min: 0, max: 0 } }, airline: { userTurns: { min: 0, max: 0 } } }',
      `agent: { orchestrator: "${ORCH}", timeScale: 0.01, maxTokens: 128, expertMaxTokens: 32, apiKey: { file: key.txt } }`,
      'concurrency: [2]',
      'limits: { maxSteps: 40, maxTaskTimeS: 60, callTimeoutS: 20, watchdogS: 30, graceS: 1 }',
      'metrics: { intervalMs: 200 }',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'spec.yaml'), spec);
    const c = captureIo({ cwd: dir });
    const code = await runMain(['run', 'spec.yaml'], c.io);
    expect(code, c.err.join('')).toBe(0);
    const runDir = /run directory: (.+)/.exec(c.out.join(''))?.[1]?.trim() ?? '';
    const cell = join(runDir, 'a', 'c2', 'r1');
    // the servers required the key and got it: every task ran
    const tasks = readFileSync(join(cell, 'tasks.jsonl'), 'utf8').trim().split('\n');
    expect(tasks.map((t) => JSON.parse(t).status)).toEqual(['ok', 'ok']);
    // what used to carry the key: spec.yaml, environment.json, cell.json, summary.json, logs, reports
    const written = files(runDir);
    for (const f of [
      'spec.yaml',
      'environment.json',
      'a/c2/r1/cell.json',
      'a/c2/r1/summary.json',
      'report.html',
    ])
      expect(written).toContain(f);
    expect(written.filter((f) => f.includes('/logs/'))).toHaveLength(2);
    expect(hits(runDir, [...c.out, ...c.err], Object.values(K))).toEqual([]);
    // the recipe is still recognisable, with the marker in place of the key
    expect(readFileSync(join(runDir, 'environment.json'), 'utf8')).toMatch(/"--api-key",\s*"<redacted>"/);
  }, 120_000);

  it('servelab bench: --header=authorization=K, URL userinfo, --extra-body api_key, the env key, and a server echoing them', async () => {
    const host = await echoServer();
    const dir = mkdtempSync(join(tmpdir(), 'servelab-secrets-bench-'));
    const c = captureIo({ cwd: dir, env: { OPENAI_API_KEY: K.envKey } });
    const code = await runMain(
      [
        'bench',
        '--base-url',
        `http://user:${K.url}@${host}`,
        `--header=authorization=Bearer ${K.header}`,
        '--header',
        `x-api-key:${K.file}`,
        '--extra-body',
        JSON.stringify({ api_key: K.body }),
        '--num-prompts',
        '6',
        '--request-rate',
        'inf',
        '--random-input-len',
        '16',
        '--random-output-len',
        '4',
        '--workers',
        '0',
        '--no-server-metrics',
        '--out',
        'run',
      ],
      c.io,
    );
    // every request failed (401 / 500): the outcome is not good, and it is all recorded
    expect(code, c.err.join('')).toBe(1);
    const runDir = join(dir, 'run');
    const records = readFileSync(join(runDir, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(6);
    // the server did echo them: the messages are there, with the marker in place of each key
    expect(records[0].errorMessage ?? JSON.stringify(records[0])).toMatch(
      /rejected Authorization "[^"]*<redacted>/,
    );
    expect(JSON.stringify(records)).toMatch(/api_key \\"<redacted>\\"/);
    expect(hits(runDir, [...c.out, ...c.err], Object.values(K))).toEqual([]);
    // run.json keeps the argv, redacted
    expect(readFileSync(join(runDir, 'run.json'), 'utf8')).toContain('<redacted>');
  }, 60_000);

  it('servelab check: a key the server echoes in its error bodies is not printed (text and --json)', async () => {
    const host = await echoServer();
    for (const json of [false, true]) {
      const c = captureIo({ env: { OPENAI_API_KEY: K.envKey } });
      const code = await runMain(
        [
          'check',
          `http://${host}`,
          '--model',
          'echo-model',
          '--no-gpu',
          '--header',
          `authorization:Bearer ${K.header}`,
          ...(json ? ['--json'] : []),
        ],
        c.io,
      );
      expect(code).toBe(1);
      const printed = [...c.out, ...c.err].join('');
      expect(printed).toContain('<redacted>');
      expect(hits(undefined, [printed], Object.values(K))).toEqual([]);
    }
  }, 60_000);

  it('servelab sim --api-key K requires it on /v1 as vLLM does (VLLM_API_KEY as the fallback), and never prints it', async () => {
    for (const how of ['flag', 'env'] as const) {
      const ac = new AbortController();
      const c = captureIo({
        signal: ac.signal,
        env: how === 'env' ? { VLLM_API_KEY: K.argv } : {},
      });
      const argv = ['sim', '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--port', '0'];
      const done = runMain(
        how === 'flag' ? [...argv, '--api-key', 'sk-other-key-000000', K.argv] : argv,
        c.io,
      );
      let url = '';
      for (let i = 0; i < 200 && !url; i++) {
        url = /\t(http:\/\/\S+)/.exec(c.out.join(''))?.[1] ?? '';
        if (!url) await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, c.err.join('')).not.toBe('');
      const get = (path: string, auth?: string) =>
        fetch(`${url}${path}`, auth ? { headers: { authorization: auth } } : {});
      const denied = await get('/v1/models');
      expect(denied.status).toBe(401);
      expect(await denied.json()).toEqual({ error: 'Unauthorized' });
      expect((await get('/v1/models', `Bearer ${K.argv}-x`)).status).toBe(401);
      expect((await get('/v1/models', `Basic ${K.argv}`)).status).toBe(401);
      expect((await get('/v1/models', `bearer ${K.argv}`)).status).toBe(200);
      // /health, /metrics and /version stay open (vLLM guards only /v1)
      for (const path of ['/health', '/metrics', '/version']) expect((await get(path)).status).toBe(200);
      ac.abort();
      expect(await done).toBe(0);
      expect(hits(undefined, [...c.out, ...c.err], [K.argv])).toEqual([]);
      if (how === 'flag')
        expect(c.err.join('')).toMatch(/non-default args: .*'api_key': \['<redacted>', '<redacted>'\]/);
    }
  }, 30_000);
});

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptServer, startScriptServer } from '../../client/testing/sse-server.js';
import { EXIT } from '../../errors.js';
import { splitEndpoint } from '../../loadgen/bench-flags.js';
import type { RequestRecord } from '../../loadgen/records.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

let srv: ScriptServer;
beforeAll(async () => {
  srv = await startScriptServer();
});
afterAll(async () => srv.close());

const io = (env: Record<string, string> = {}, signal = new AbortController().signal) =>
  captureIo({ env, signal });

describe('servelab bench', () => {
  it('runs a closed loop, writes the run directory, keeps the key out of every file', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const c = io({ MY_KEY: 'sk-very-secret' });
    const code = await runMain(
      [
        'bench',
        '--base-url',
        srv.url.replace('/v1', ''),
        '--model',
        'm',
        '--num-prompts',
        '12',
        '--max-concurrency',
        '3',
        '--random-input-len',
        '16',
        '--random-output-len',
        '4',
        '--header',
        'x-test={"chunks":4}',
        '--api-key-env',
        'MY_KEY',
        '--goodput',
        'ttft:10000',
        '--metric-percentiles',
        '50,99',
        '--warmup',
        '2',
        '--out',
        dir,
        '--workers',
        '0',
        '--save-result',
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    expect(srv.seen.at(-1)!.headers.authorization).toBe('Bearer sk-very-secret');
    const recs = readFileSync(join(dir, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RequestRecord);
    expect(recs).toHaveLength(14);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s).toMatchObject({ completed: 12, failed: 0, total_output_tokens: 48, arrivals: 'closed(c=3)' });
    expect(s.p99_ttft_ms).toBeTypeOf('number');
    expect(s.p90_ttft_ms).toBeUndefined();
    expect(s.request_goodput).toBeGreaterThan(0);
    expect(s.definitions.ttftMs).toContain('non-empty');
    const v = JSON.parse(readFileSync(join(dir, 'vllm-result.json'), 'utf8'));
    expect(v).toMatchObject({ completed: 12, backend: 'openai-chat' });
    for (const f of ['run.json', 'requests.jsonl', 'summary.json', 'vllm-result.json'])
      expect(readFileSync(join(dir, f), 'utf8')).not.toContain('sk-very-secret');
    expect(c.out.join('')).toContain('Serving Benchmark Result');
    expect(c.err.join('')).toMatch(/14\/14 done/);
  });

  it('Ctrl-C stops dispatch, cuts in-flight requests after the grace period, still writes the summary (exit 130)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const ac = new AbortController();
    const c = io({}, ac.signal);
    setTimeout(() => ac.abort(), 150);
    const code = await runMain(
      [
        'bench',
        '--base-url',
        srv.url,
        '--model',
        'm',
        '--num-prompts',
        '50',
        '--max-concurrency',
        '2',
        '--workers',
        '0',
        '--header',
        'x-test={"chunks":100,"gapMs":10}',
        '--grace',
        '0.1',
        '--out',
        dir,
        '--no-server-metrics',
      ],
      c.io,
    );
    expect(code).toBe(EXIT.interrupted);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s.counts.measured).toBe(2);
    expect(s.counts.incompleteByKind).toEqual({ aborted: 2 });
    expect(s.warnings[0]).toContain('interrupted');
    expect(readFileSync(join(dir, 'requests.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('bad flags name the flag and exit 2', async () => {
    for (const [args, msg] of [
      [['--request-rate', 'fast'], '--request-rate'],
      [['--goodput', 'ttft'], '--goodput'],
      [['--sweep', 'x'], '--sweep'],
      [['--extra-body', '{nope'], '--extra-body'],
      [['--endpoint', '/v1/embeddings'], '--endpoint'],
      [['--num-prompts', '5', '--duration', '3'], '--duration'],
    ] as const) {
      const c = io();
      expect(await runMain(['bench', '--base-url', srv.url, '--model', 'm', ...args], c.io)).toBe(EXIT.usage);
      expect(c.err.join('')).toContain(msg);
    }
  });

  it('a server that is down yields error records and exit 1, not a crash', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const c = io();
    const code = await runMain(
      [
        'bench',
        '--base-url',
        'http://127.0.0.1:9',
        '--model',
        'm',
        '--num-prompts',
        '3',
        '--workers',
        '0',
        '--out',
        dir,
      ],
      c.io,
    );
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s.counts.errorByKind).toEqual({ refused: 3 });
  });

  it('without --model, a server that is down is named as such (exit 1), not as a model problem', async () => {
    const c = io();
    expect(await runMain(['bench', '--base-url', 'http://127.0.0.1:9', '--num-prompts', '3'], c.io)).toBe(
      EXIT.failed,
    );
    const err = c.err.join('');
    expect(err).toMatch(
      /GET http:\/\/127\.0\.0\.1:9\/v1\/models: connection refused: nothing listens on 127\.0\.0\.1:9/,
    );
    expect(err).toMatch(/hint: start the server \(or the SSH forward\) first/);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('maps vLLM base URL + endpoint onto a /v1 base', () => {
    expect(splitEndpoint('http://h:8000', '/v1/chat/completions')).toEqual({
      base: 'http://h:8000/v1',
      api: 'chat',
    });
    expect(splitEndpoint('http://h:8000/v1/', '/v1/completions')).toEqual({
      base: 'http://h:8000/v1',
      api: 'completions',
    });
    expect(splitEndpoint('http://h:8000', '/x', 'openai-chat').api).toBe('chat');
  });
});

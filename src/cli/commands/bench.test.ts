import { mkdtempSync, readFileSync, statSync } from 'node:fs';
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
    // the limits the requests ran under: the defaults, stated with the results
    expect(s.timeouts).toEqual({ firstByteS: 300, idleS: 120, totalS: null });
    expect(s.maxErrorRate).toBe(0.1);
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
      [['--max-error-rate', '2'], '--max-error-rate'],
      [['--idle-timeout', '-1'], '--idle-timeout'],
      [['--first-byte-timeout', '1e9'], '--first-byte-timeout'],
      [['--timeout', 'soon'], '--timeout'],
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

  it('states the default timeouts and the error threshold in --help', async () => {
    const c = io();
    await runMain(['bench', '--help'], c.io);
    const help = c.out.join('') + c.err.join('');
    expect(help).toMatch(/--first-byte-timeout[\s\S]*default 300/);
    expect(help).toMatch(/--idle-timeout[\s\S]*default 120/);
    expect(help).toMatch(/--max-error-rate[\s\S]*default 0\.1/);
  });
});

describe('servelab bench: hangs end, failures are said', () => {
  const bench = (dir: string, header: string, more: string[] = [], baseUrl = srv.url) => [
    'bench',
    '--base-url',
    baseUrl,
    '--model',
    'm',
    '--random-input-len',
    '8',
    '--random-output-len',
    '4',
    '--workers',
    '0',
    '--no-server-metrics',
    '--no-progress',
    '--header',
    `x-test=${header}`,
    '--out',
    dir,
    ...more,
  ];
  const records = (dir: string) =>
    readFileSync(join(dir, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RequestRecord);

  it('a server that never answers: each request ends as a first-byte timeout record, bench finishes', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const c = io();
    const code = await runMain(
      bench(dir, '{"mode":"hang"}', ['--num-prompts', '2', '--first-byte-timeout', '0.3']),
      c.io,
    );
    expect(code).toBe(EXIT.failed);
    const recs = records(dir);
    expect(recs.map((r) => [r.status, r.errorKind])).toEqual([
      ['error', 'timeout_first_byte'],
      ['error', 'timeout_first_byte'],
    ]);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s.timeouts).toEqual({ firstByteS: 0.3, idleS: 120, totalS: null });
    expect(c.err.join('')).toContain('2 of 2 measured requests did not end ok');
  });

  it('a stream that stops mid-way ends at the idle timeout as an incomplete record', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const code = await runMain(
      bench(dir, '{"mode":"stall","chunks":4,"after":2}', ['--num-prompts', '2', '--idle-timeout', '0.3']),
      io().io,
    );
    expect(code).toBe(EXIT.failed);
    const recs = records(dir);
    expect(recs.map((r) => [r.status, r.errorKind, r.chunkOffsetsMs.length])).toEqual([
      ['incomplete', 'timeout_idle', 2],
      ['incomplete', 'timeout_idle', 2],
    ]);
  });

  it("a server's 5 MB JSON error message: each record keeps its head and its length", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const header = JSON.stringify({
      mode: 'status',
      status: 500,
      message: 'm'.repeat(1024),
      messageRepeat: 5120,
    });
    const code = await runMain(
      bench(dir, header, ['--num-prompts', '30', '--max-concurrency', '4']),
      io().io,
    );
    expect(code).toBe(EXIT.failed);
    const recs = records(dir);
    expect(recs).toHaveLength(30);
    for (const r of recs) {
      expect(r).toMatchObject({
        status: 'error',
        errorKind: 'server_error',
        errorMessageChars: 5 * 1024 * 1024,
      });
      expect(r.errorMessage).toContain(`HTTP 500: ${'m'.repeat(500)}...`);
    }
    // 30 records of a 5 MB message each were 157 MB; the heads are a few kB
    expect(statSync(join(dir, 'requests.jsonl')).size).toBeLessThan(100_000);
  });

  it('the server dies mid-run: most requests fail, bench says so and exits 1 (ok requests notwithstanding)', async () => {
    const dying = await startScriptServer();
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    const c = io();
    // the server goes away once three requests have reached it
    const killer = setInterval(() => {
      if (dying.seen.length >= 3) {
        clearInterval(killer);
        void dying.close();
      }
    }, 5);
    try {
      const code = await runMain(
        bench(dir, '{"chunks":4,"gapMs":20}', ['--num-prompts', '20', '--max-concurrency', '1'], dying.url),
        c.io,
      );
      const recs = records(dir);
      const ok = recs.filter((r) => r.status === 'ok').length;
      expect(ok).toBeGreaterThan(0);
      expect(recs.length - ok).toBeGreaterThan(10);
      expect(code).toBe(EXIT.failed);
      expect(c.err.join('')).toMatch(
        new RegExp(
          `${recs.length - ok} of 20 measured requests did not end ok \\([\\d.]+ %, over --max-error-rate 0\\.1\\)`,
        ),
      );
    } finally {
      clearInterval(killer);
      await dying.close().catch(() => undefined);
    }
  });

  it('--max-error-rate 1 keeps exit 0 while some requests succeed', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-bench-')), 'run');
    // every request is cut after its first chunk: incomplete, but a threshold of 1 accepts it
    const code = await runMain(
      bench(dir, '{"mode":"no_done","chunks":4,"after":1}', ['--num-prompts', '2', '--max-error-rate', '1']),
      io().io,
    );
    expect(records(dir).every((r) => r.status === 'incomplete')).toBe(true);
    // no request ended ok at all: still exit 1, whatever the threshold
    expect(code).toBe(EXIT.failed);
  });
});

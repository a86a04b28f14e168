import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const capture = (signal: AbortSignal) => captureIo({ signal });

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * `servelab sim <args>` as a child process (SIGTERM reaches it as it would a real server): its
 * URL once it prints one, its exit code, and what it said on stderr so far.
 */
async function spawnSim(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `const m = await import('./src/cli/main.ts'); process.exitCode = await m.runMain(${JSON.stringify(['sim', ...args])});`,
      '--input-type=module',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor(() => out.includes('http://'), 20_000);
  return { child, exited, url: out.trim().split('\t')[1]!, err: () => err };
}

describe('servelab sim', () => {
  it('starts DP replicas, prints vLLM-like startup lines, serves, and stops cleanly on abort (SIGINT)', async () => {
    const ac = new AbortController();
    const c = capture(ac.signal);
    const run = runMain(
      ['sim', '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--port', '0', '--dp', '2'],
      c.io,
    );
    await waitFor(() => c.out.join('').split('\n').filter(Boolean).length === 2);
    const urls = c.out
      .join('')
      .trim()
      .split('\n')
      .map((l) => l.split('\t')[1]!);
    expect(c.err.join('')).toMatch(/GPU KV cache size: [\d,]+ tokens/);
    expect(c.err.join('')).toMatch(/Maximum concurrency for [\d,]+ tokens per request: \d+\.\d\dx/);
    const oa = new OpenAI({ baseURL: `${urls[1]}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await oa.chat.completions.create({
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
    });
    expect(r.usage?.completion_tokens).toBeLessThanOrEqual(3);
    ac.abort();
    expect(await run).toBe(EXIT.ok);
    await expect(fetch(`${urls[0]}/health`)).rejects.toThrow();
  });

  it('starts a topology file (the shipped W1 set, on free ports)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sim-'));
    const file = join(dir, 'topo.yaml');
    const w1 = (await import('node:fs')).readFileSync('examples/w1-topology.yaml', 'utf8');
    writeFileSync(file, w1.replace(/port: \d+/g, 'port: 0'));
    const ac = new AbortController();
    const c = capture(ac.signal);
    const run = runMain(['sim', '--topology', file], c.io);
    await waitFor(() => c.err.join('').includes('server(s) up'));
    const lines = c.out.join('').trim().split('\n');
    expect(lines).toHaveLength(9);
    expect(lines[0]).toMatch(/^\/ckpt\/Nemotron-Orchestrator-8B\thttp:\/\/127\.0\.0\.1:\d+$/);
    expect(lines.filter((l) => l.startsWith('openai/gpt-oss-20b'))).toHaveLength(4);
    ac.abort();
    expect(await run).toBe(EXIT.ok);
  });

  it('the shipped W1 topology asks for the W1 ports', async () => {
    const { parseTopology } = await import('../../sim/server/topology.js');
    const r = parseTopology((await import('node:fs')).readFileSync('examples/w1-topology.yaml', 'utf8'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const ports = r.topology.servers.flatMap((s) => Array.from({ length: s.dp ?? 1 }, (_, k) => s.port! + k));
    expect(ports).toEqual([1900, 1910, 1911, 1912, 1913, 1904, 1905, 1920, 1921]);
  });

  it.each([
    [['sim', '--model', 'm', '--port', 'abc'], /--port "abc" is not an integer/],
    [['sim', '--model', 'm', '--persona', 'poet'], /--persona "poet"/],
    [['sim', '--model', 'm', '--fault-rate', '429=7'], /--fault-rate: .*rate must be in \[0, 1\]/],
    [['sim'], /needs --model/],
    [['sim', '--model', 'no-such-model', '--port', '0'], /no-such-model/],
  ])('bad flags give one clear error, no stack trace: %j', async (argv, re) => {
    const c = capture(new AbortController().signal);
    const code = await runMain(argv, c.io);
    expect(code).not.toBe(EXIT.ok);
    const err = c.err.join('');
    expect(err).toMatch(re);
    expect(err).not.toMatch(/\n\s+at .*:\d+:\d+/);
  });

  it('a bad topology file names file:line:col', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sim-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'servers:\n  - model: x\n    dp: two\n    colour: red\n');
    const c = capture(new AbortController().signal);
    expect(await runMain(['sim', '--topology', bad], c.io)).toBe(EXIT.usage);
    expect(c.err.join('')).toMatch(/bad\.yaml:3:9: servers\[0\]\.dp/);
    expect(c.err.join('')).toMatch(/colour/);
    writeFileSync(bad, 'servers: [\n  {model: x\n');
    const c2 = capture(new AbortController().signal);
    expect(await runMain(['sim', '--topology', bad], c2.io)).toBe(EXIT.usage);
    expect(c2.err.join('')).toMatch(/bad\.yaml:\d+:\d+/);
  });
});

describe('servelab sim as a process', () => {
  it('stops cleanly on SIGTERM: servers closed, exit code 0', async () => {
    const { child, exited, url, err } = await spawnSim([
      '--model',
      'meta-llama/Llama-3.1-8B-Instruct',
      '--port',
      '0',
    ]);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err()).toContain('servelab sim: stopped');
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  }, 30_000);
});

describe('servelab sim --scheduling-policy', () => {
  it.each([
    [['--scheduling-policy', 'lifo'], /--scheduling-policy "lifo" is not one of fcfs, priority, continuum/],
    [
      ['--scheduling-policy', 'continuum', '--continuum-parser', 'xml'],
      /--continuum-parser "xml" is not one of hermes, bash-only/,
    ],
    [
      ['--scheduling-policy', 'continuum', '--continuum-ttl-rule', 'magic'],
      /--continuum-ttl-rule "magic" is not one of public, paper/,
    ],
    [
      ['--scheduling-policy', 'continuum', '--continuum-ttl', '-1'],
      /--continuum-ttl "-1" is not a number >= 0/,
    ],
    [['--continuum-parser', 'bash-only'], /--continuum-parser need --scheduling-policy continuum/],
    [
      ['--scheduling-policy', 'fcfs', '--continuum-ttl', '3'],
      /--continuum-ttl need --scheduling-policy continuum/,
    ],
  ])('bad policy flags exit 2 naming the flag: %j', async (flags, re) => {
    const c = capture(new AbortController().signal);
    const code = await runMain(
      ['sim', '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--port', '0', ...flags],
      c.io,
    );
    expect(code).toBe(EXIT.usage);
    expect(c.err.join('')).toMatch(re);
    expect(c.err.join('')).not.toMatch(/\n\s+at .*:\d+:\d+/);
  });

  it('with --topology the policy is set per server in the file; a bad topology policy names file:line:col', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sim-'));
    const file = join(dir, 't.yaml');
    writeFileSync(file, 'servers:\n  - model: meta-llama/Llama-3.1-8B-Instruct\n    port: 0\n');
    const c = capture(new AbortController().signal);
    expect(await runMain(['sim', '--topology', file, '--scheduling-policy', 'continuum'], c.io)).toBe(
      EXIT.usage,
    );
    expect(c.err.join('')).toMatch(/--scheduling-policy and --topology exclude each other/);
    writeFileSync(
      file,
      'servers:\n  - model: meta-llama/Llama-3.1-8B-Instruct\n    scheduling_policy: fcfs\n    continuum:\n      parser: bash-only\n  - model: x\n    scheduling_policy: continuum\n    continuum: {parser: xml}\n',
    );
    const c2 = capture(new AbortController().signal);
    expect(await runMain(['sim', '--topology', file], c2.io)).toBe(EXIT.usage);
    const err = c2.err.join('');
    expect(err).toMatch(
      /t\.yaml:5:7: servers\[0\]\.continuum: continuum settings need scheduling_policy: continuum/,
    );
    expect(err).toMatch(/t\.yaml:8:\d+: servers\[1\]\.continuum\.parser/);
  });

  it('a topology server picks its policy: continuum with the old parser, pins nothing for a hermes tool call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sim-'));
    const file = join(dir, 't.yaml');
    writeFileSync(
      file,
      [
        'servers:',
        '  - model: meta-llama/Llama-3.1-8B-Instruct',
        '    served_model_name: new',
        '    port: 0',
        '    scheduling_policy: continuum',
        '  - model: meta-llama/Llama-3.1-8B-Instruct',
        '    served_model_name: old',
        '    port: 0',
        '    scheduling_policy: continuum',
        '    continuum: {parser: bash-only, ttl_rule: public, ttl_s: 30}',
        '',
      ].join('\n'),
    );
    const ac = new AbortController();
    const c = captureIo({ signal: ac.signal, cwd: dir, env: { RUN_OUTPUT_DIR: join(dir, 'out') } });
    const run = runMain(['sim', '--topology', file], c.io);
    await waitFor(() => c.out.join('').trim().split('\n').length === 2, 20_000);
    const urls = Object.fromEntries(
      c.out
        .join('')
        .trim()
        .split('\n')
        .map((l) => l.split('\t') as [string, string]),
    );
    for (const model of ['new', 'old']) {
      const oa = new OpenAI({ baseURL: `${urls[model]}/v1`, apiKey: 'x', maxRetries: 0 });
      const r = await oa.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'look it up' }],
        tools: [{ type: 'function', function: { name: 'search', parameters: { type: 'object' } } }],
        job_id: 'p1',
        is_last_step: false,
        servelab_directive: { tool_calls: [{ name: 'search', arguments: {} }] },
      } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
      expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    }
    const pins = async (model: string) => {
      const page = await (await fetch(`${urls[model]}/metrics`)).text();
      const line = page.split('\n').find((l) => l.startsWith('servelab:kv_pins_created_total{'))!;
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(await pins('new')).toBe(1);
    expect(await pins('old')).toBe(0);
    ac.abort();
    expect(await run).toBe(EXIT.ok);
    // one scheduler_timestamps per continuum engine: the first under the fork's name
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['scheduler_timestamps', 'scheduler_timestamps.1']);
  }, 40_000);
});

describe('servelab sim --scheduling-policy continuum as a process', () => {
  it("on SIGTERM writes the fork's scheduler_timestamps JSON to $RUN_OUTPUT_DIR", async () => {
    const { readFileSync, existsSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sim-'));
    const outDir = join(dir, 'run-7');
    const { child, exited, url, err } = await spawnSim(
      ['--model', 'meta-llama/Llama-3.1-8B-Instruct', '--port', '0', '--scheduling-policy', 'continuum'],
      { ...process.env, RUN_OUTPUT_DIR: outDir },
    );
    const t0 = Date.now() / 1000;
    const oa = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
    for (const [job, last] of [
      ['task-1', false],
      ['task-1', true],
    ] as const) {
      await oa.chat.completions.create({
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        messages: [{ role: 'user', content: 'look it up' }],
        tools: [{ type: 'function', function: { name: 'search', parameters: { type: 'object' } } }],
        job_id: job,
        is_last_step: last,
        servelab_directive: { tool_calls: [{ name: 'search', arguments: {} }] },
      } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    }
    // a call without job_id is the fork's None job
    await oa.chat.completions.create({
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 2,
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const path = join(outDir, 'scheduler_timestamps');
    expect(err()).toContain(`servelab sim: wrote ${path}`);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^\{\n {2}"/); // json.dump(..., indent=2)
    const doc = JSON.parse(text) as Record<string, Record<string, number>[]>;
    expect(Object.keys(doc).sort()).toEqual(['null', 'task-1']);
    const kinds = doc['task-1']!.map((e) => Object.keys(e)[0]);
    expect(kinds).toEqual([
      'Request_arrival_time',
      'waiting_to_running',
      'Request_departure_time',
      'pinned_time',
      'Request_arrival_time',
      'waiting_to_running',
      'Request_departure_time',
      'unpinned_time',
    ]);
    const first = doc['task-1']![0]!.Request_arrival_time!;
    expect(first).toBeGreaterThanOrEqual(t0 - 1);
    expect(first).toBeLessThanOrEqual(Date.now() / 1000);
    expect(doc['task-1']![1]).toMatchObject({ prompt_length: expect.any(Number), hit_length: 0 });
  }, 40_000);
});

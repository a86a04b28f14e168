import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { endpointsOf, parseModelConfig as parseModelConfigZod } from '../config/index.js';
import { type PageServer, startPageServer } from '../metrics/testing/page-server.js';
import { checkEndpoints } from './check.js';
import { parseNvidiaSmiCsv, queryGpus } from './gpu.js';
import { parseModelConfig } from './model-config.js';
import { renderCheckReport } from './render.js';

const servers: PageServer[] = [];
async function serve(opts: Parameters<typeof startPageServer>[0]) {
  const s = await startPageServer(opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close().catch(() => {})));
});

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
const OSS = 'openai/gpt-oss-20b';
const QWEN = 'Qwen/Qwen3-32B-FP8';

describe("checkEndpoints on a W1-like topology from the users' model-config JSON", () => {
  it('names each problem: closed port, quirks, tool call as text, 0.12.0 pitfall, wrong model, 503', async () => {
    const orch = await serve({ models: [ORCH], chat: 'tool_ok' });
    const oss1 = await serve({ models: [OSS], chat: 'reasoning_null_content' });
    const oss2 = await closedPort();
    const qwen1 = await serve({ models: [QWEN], chat: 'think_cut' });
    const qwen2 = await serve({ models: ['Qwen/Qwen3-8B'], chat: 'ok' });
    const loading = await serve({ models: [QWEN], healthStatus: 503 });
    const next = await serve({
      models: ['Qwen/Qwen3-Next-80B-A3B-Instruct-FP8'],
      chat: 'tool_500_token_ids',
      version: '0.12.0',
    });
    const textTools = await serve({ models: ['Qwen/Qwen3-Next-80B-A3B-Instruct-FP8'], chat: 'tool_as_text' });
    const config = JSON.stringify({
      [ORCH]: [{ ip_addr: '127.0.0.1', port: String(orch.port) }],
      [OSS]: [
        { ip_addr: '127.0.0.1', port: String(oss1.port) },
        { ip_addr: '127.0.0.1', port: String(oss2) },
      ],
      [QWEN]: [
        { ip_addr: '127.0.0.1', port: String(qwen1.port) },
        { ip_addr: '127.0.0.1', port: String(qwen2.port) },
        { ip_addr: '127.0.0.1', port: String(loading.port) },
      ],
      oss_expert_mapping: { 'expert-1': OSS, 'expert-2': QWEN },
      vllm_model_config_path: '/tmp/model-config.json',
    });
    const cfg = parseModelConfig(config, 'model-config.json');
    expect(cfg.endpoints.map((e) => [e.model, e.role])).toEqual([
      [ORCH, 'orchestrator'],
      [OSS, 'expert'],
      [OSS, 'expert'],
      [QWEN, 'expert'],
      [QWEN, 'expert'],
      [QWEN, 'expert'],
    ]);
    const endpoints = [
      ...cfg.endpoints.map((e) => ({ url: e.url, model: e.model, tools: e.role === 'orchestrator' })),
      { url: next.url, tools: true, label: 'next-0.12' },
      { url: `${textTools.url}/v1`, tools: true, label: 'no-parser' },
    ];
    const rep = await checkEndpoints({ endpoints, gpu: false, chatTimeoutMs: 5000 });
    const by = (port: number | string) =>
      rep.endpoints.find((e) => e.label === `127.0.0.1:${port}` || e.label === port)!;
    const codes = (port: number | string) => by(port).problems.map((p) => `${p.severity}:${p.code}`);

    expect(rep.ready).toBe(false);
    expect(by(orch.port).ready).toBe(true);
    expect(by(orch.port).stages.tools).toMatchObject({ status: 'ok', detail: 'called get_weather' });
    expect(by(orch.port).version).toBe('0.11.0');

    expect(by(oss1.port).ready).toBe(true);
    expect(by(oss1.port).quirks).toEqual(['content_null_with_reasoning']);

    expect(by(oss2).ready).toBe(false);
    expect(codes(oss2)).toEqual(['error:not_listening']);
    expect(by(oss2).problems[0]!.message).toMatch(/not listening yet: is the SSH forward up\?/);

    expect(by(qwen1.port).ready).toBe(true);
    expect(by(qwen1.port).quirks).toEqual(['think_in_content', 'length_cut_inside_think']);
    expect(codes(qwen1.port)).toContain('warn:quirk');

    expect(codes(qwen2.port)).toEqual(['error:model_not_served']);
    expect(by(qwen2.port).problems[0]!.message).toContain('"Qwen/Qwen3-8B"');

    expect(codes(loading.port)).toEqual(['error:health_failed']);
    expect(by(loading.port).problems[0]!.hint).toMatch(/not ready/);

    expect(by('next-0.12').ready).toBe(false);
    expect(
      by('next-0.12')
        .problems.filter((p) => p.code === 'pitfall')
        .map((p) => p.message)
        .join('\n'),
    ).toMatch(/0\.12\.0.*token_ids/);
    expect(by('next-0.12').stages.tools?.status).toBe('fail');
    expect(by('next-0.12').problems.find((p) => p.code === 'pitfall')!.message).toMatch(
      /^confirmed by a tool-call/,
    );
    expect(by('next-0.12').stages.chat?.status).toBe('ok');

    expect(codes('no-parser')).toContain('error:tool_call_as_text');
    expect(by('no-parser').problems.find((p) => p.code === 'tool_call_as_text')!.hint).toContain(
      '--tool-call-parser hermes',
    );

    const text = renderCheckReport(rep);
    expect(text).toMatch(/ENDPOINT\s+MODEL\s+TCP\s+HEALTH\s+MODELS\s+VERSION\s+CHAT\s+TOOLS\s+READY/);
    expect(text).toContain(`127.0.0.1:${oss2}`);
    expect(text).toMatch(/3\/8 endpoints ready/);
  });

  it('an API key goes to /v1/models, /version and the smoke calls; without it the problem says so', async () => {
    const srv = await serve({ models: ['m'], apiKey: 'sk-test' });
    const without = await checkEndpoints({ endpoints: [{ url: srv.url }], gpu: false });
    expect(without.endpoints[0]!.problems.map((p) => p.code)).toEqual(['models_failed']);
    expect(without.endpoints[0]!.problems[0]!.hint).toMatch(/API key/);
    const withKey = await checkEndpoints({
      endpoints: [{ url: srv.url, model: 'm' }],
      gpu: false,
      apiKey: 'sk-test',
    });
    expect(withKey.ready).toBe(true);
    expect(JSON.stringify(withKey)).not.toContain('sk-test');
  });

  it('a port whose listener accepts nothing (connect times out) is unreachable, not "not listening"', async () => {
    // a stopped process's listening socket: the kernel fills its backlog, then drops SYNs
    const child = spawn(
      process.execPath,
      [
        '-e',
        "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const socks: Socket[] = [];
    try {
      const port = await new Promise<number>((r) =>
        child.stdout.once('data', (b: Buffer) => r(Number(String(b).trim()))),
      );
      child.kill('SIGSTOP');
      for (let i = 0; i < 4; i++) socks.push(connect({ host: '127.0.0.1', port }).on('error', () => {}));
      await new Promise((r) => setTimeout(r, 200));
      const rep = await checkEndpoints({
        endpoints: [{ url: `http://127.0.0.1:${port}` }],
        gpu: false,
        connectTimeoutMs: 400,
      });
      expect(rep.endpoints[0]!.stages.tcp?.detail).toBe('timeout');
      expect(rep.endpoints[0]!.problems.map((p) => p.code)).toEqual(['unreachable']);
    } finally {
      for (const s of socks) s.destroy();
      child.kill('SIGKILL');
    }
  });

  it('a hung server is a failed smoke call, not a hang', async () => {
    const hung = await serve({ models: ['m'], chat: 'hang' });
    const rep = await checkEndpoints({ endpoints: [{ url: hung.url }], gpu: false, chatTimeoutMs: 300 });
    expect(rep.endpoints[0]!.problems.map((p) => p.code)).toEqual(['chat_failed']);
    expect(rep.endpoints[0]!.problems[0]!.message).toMatch(/timeout_first_byte/);
  });

  it('--wait polls until a port that comes up late is ready', async () => {
    const port = await closedPort();
    const progress: string[] = [];
    setTimeout(() => {
      void serve({ models: ['m'], port });
    }, 600);
    const rep = await checkEndpoints({
      endpoints: [{ url: `http://127.0.0.1:${port}`, model: 'm' }],
      gpu: false,
      waitMs: 8000,
      onProgress: (l) => progress.push(l),
    });
    expect(rep.ready).toBe(true);
    expect(rep.attempts).toBeGreaterThan(1);
    expect(progress[0]).toMatch(/0\/1 ready; waiting on 127\.0\.0\.1:\d+ \(not_listening\)/);
  });

  it('--wait gives up at its deadline', async () => {
    const port = await closedPort();
    const t0 = Date.now();
    const rep = await checkEndpoints({
      endpoints: [{ url: `http://127.0.0.1:${port}` }],
      gpu: false,
      waitMs: 1200,
    });
    expect(rep.ready).toBe(false);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(rep.attempts).toBeGreaterThan(1);
  });
});

describe('model config', () => {
  it("reads the same endpoints as the experiment's parser (src/config)", () => {
    const text = JSON.stringify({
      '/ckpt/Nemotron-Orchestrator-8B': [{ ip_addr: '127.0.0.1', port: '1900' }],
      'openai/gpt-oss-20b': [
        { ip_addr: '127.0.0.1', port: '1910' },
        { ip_addr: '127.0.0.1', port: 1911 },
      ],
      'Qwen/Qwen3-32B-FP8': [{ ip_addr: 'node7', port: '1904', scheme: 'https' }],
      oss_expert_mapping: { 'expert-1': 'openai/gpt-oss-20b', 'expert-2': 'Qwen/Qwen3-32B-FP8' },
      vllm_model_config_path: '/x/model-config.json',
    });
    const mine = parseModelConfig(text).endpoints.map((e) => [e.model, `${e.url}/v1`]);
    const theirs = [...endpointsOf(parseModelConfigZod(JSON.parse(text), 'x')).entries()].flatMap(
      ([m, eps]) => eps.map((e) => [m, e.baseUrl]),
    );
    expect(mine).toEqual(theirs);
  });

  it('accepts string ports, integer ports, and reports every problem at once', () => {
    const ok = parseModelConfig(
      '{"m": [{"ip_addr": "127.0.0.1", "port": "1900"}, {"ip_addr": "h", "port": 1901}]}',
    );
    expect(ok.endpoints.map((e) => [e.url, e.port, e.role])).toEqual([
      ['http://127.0.0.1:1900', 1900, 'model'],
      ['http://h:1901', 1901, 'model'],
    ]);
    let bad = '';
    try {
      parseModelConfig(
        '{"a": [{"ip_addr": "x", "port": "19a0"}], "b": [{"port": "1"}], "oss_expert_mapping": {"e": 3}}',
        'cfg.json',
      );
    } catch (err) {
      bad = (err as Error).message;
    }
    // every problem at once, in file order, each with its path
    expect(bad).toMatch(/^cfg\.json: 3 problem\(s\):/);
    expect(bad).toMatch(/"a"\[0\]\.port: a port 1-65535/);
    expect(bad).toMatch(/"b"\[0\]\.ip_addr/);
    expect(bad).toMatch(/oss_expert_mapping\.e: expected a model name/);
    expect(() => parseModelConfig('{\n  "a": [\n  }', 'cfg.json')).toThrow(/cfg\.json:3:\d+: not valid JSON/);
    const notes = parseModelConfig(
      '{"m": [{"ip_addr": "h", "port": "1"}], "oss_expert_mapping": {"expert-3": "x"}, "comment": "hi"}',
    );
    expect(notes.notes.join('\n')).toMatch(/expert-3 maps to "x"[\s\S]*ignored.*comment/);
  });
});

describe('GPU occupancy', () => {
  it('parses nvidia-smi CSV and warns on memory held; runs it with an argument array', async () => {
    const csv =
      'index, memory.used [MiB], memory.total [MiB], utilization.gpu [%]\n0, 30512 MiB, 32607 MiB, 0 %\n1, 3 MiB, 32607 MiB, 0 %\n';
    expect(parseNvidiaSmiCsv(csv)).toEqual([
      { index: 0, memoryUsedMiB: 30512, memoryTotalMiB: 32607, utilizationPct: 0 },
      { index: 1, memoryUsedMiB: 3, memoryTotalMiB: 32607, utilizationPct: 0 },
    ]);
    const calls: [string, string[]][] = [];
    const rep = await queryGpus(async (file, args) => {
      calls.push([file, args]);
      return { stdout: csv, stderr: '' };
    });
    expect(calls).toEqual([
      ['nvidia-smi', ['--query-gpu=index,memory.used,memory.total,utilization.gpu', '--format=csv']],
    ]);
    expect(rep.available && rep.warnings).toHaveLength(1);
    expect(rep.available && rep.warnings[0]).toMatch(/GPU 0 holds 30512 MiB/);
    const missing = await queryGpus(async () => {
      throw Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' });
    });
    expect(missing).toEqual({ available: false, reason: 'nvidia-smi not found' });
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { startPageServer } from '../metrics/testing/page-server.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { freePort } from '../testing/free-port.js';
import type { Finding } from './findings.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c().catch(() => {})));
});

async function sim(model: string, versionString: string): Promise<SimServers> {
  const s = await startSimServers({
    servers: [{ model, gpu: 'H200-141GB', port: 0, stepTimeMs: 1 }],
    versionString,
  });
  closers.push(() => s.close());
  return s;
}

async function doctorJson(args: string[]) {
  const { io, out } = captureIo();
  const code = await runMain(['doctor', ...args, '--json', '--timeout', '3s'], io);
  return { code, findings: (JSON.parse(out.join('')) as { findings: Finding[] }).findings };
}

describe('servelab doctor on running simulated servers over loopback', () => {
  it('reads /version and /v1/models: 0.12.0 tool parsers, 0.9.2 without gpt-oss, one model on two versions', async () => {
    const next = await sim('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8', '0.12.0');
    const oss = await sim('openai/gpt-oss-20b', '0.9.2');
    const orchA = await sim('/ckpt/Nemotron-Orchestrator-8B', '0.11.0');
    const orchB = await sim('/ckpt/Nemotron-Orchestrator-8B', '0.10.1');
    const closed = await freePort();
    const urls = [next, oss, orchA, orchB].map((s) => s.endpoints[0]!.url);
    const r = await doctorJson([...urls, `http://127.0.0.1:${closed}`]);
    expect(r.code).toBe(1);
    const got = r.findings.map((f) => `${f.severity} ${f.check} ${f.where.split(' ')[0]} ${f.message}`);
    const port = (s: SimServers) => `127.0.0.1:${s.endpoints[0]!.port}`;
    expect(got).toEqual([
      expect.stringMatching(
        new RegExp(`^error vllm-version ${port(next)} vLLM 0\\.12\\.0: every tool-call parser fails`),
      ),
      expect.stringMatching(new RegExp(`^error vllm-version ${port(oss)} .*\\[vllm-no-gpt-oss\\]$`)),
      expect.stringMatching(
        new RegExp(`^error vllm-version ${port(oss)} .*\\[vllm-gpt-oss-openai-parser\\]$`),
      ),
      expect.stringMatching(new RegExp(`^error server 127\\.0\\.0\\.1:${closed} not listening yet`)),
      expect.stringMatching(
        /^warning arms-differ .* \/ckpt\/Nemotron-Orchestrator-8B ran different server versions across arms: 0\.11\.0 \(127\.0\.0\.1:\d+\) vs 0\.10\.1/,
      ),
    ]);
    // the simulators answer /metrics with vLLM's names: no /metrics finding
    expect(r.findings.some((f) => f.message.includes('/metrics'))).toBe(false);
  });

  it('--no-tools: the tool-parser pitfall of 0.12.0 does not apply; a safe server has no finding', async () => {
    const next = await sim('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8', '0.12.0');
    const safe = await sim('Qwen/Qwen3-32B-FP8', '0.11.0');
    const r = await doctorJson([next.endpoints[0]!.url, `${safe.endpoints[0]!.url}/v1`, '--no-tools']);
    expect(r).toEqual({ code: 0, findings: [] });
  });

  it('/metrics: speculative decoding at gpu_memory_utilization 0.9, and a server with no /metrics page', async () => {
    const spec = await startPageServer({
      models: ['openai/gpt-oss-20b'],
      version: '0.11.0',
      page: () =>
        [
          '# TYPE vllm:cache_config_info gauge',
          'vllm:cache_config_info{block_size="16",gpu_memory_utilization="0.9",engine="0",model_name="openai/gpt-oss-20b"} 1.0',
          '# TYPE vllm:spec_decode_num_drafts_total counter',
          'vllm:spec_decode_num_drafts_total{engine="0",model_name="openai/gpt-oss-20b"} 12.0',
          '',
        ].join('\n'),
    });
    closers.push(() => spec.close());
    const router: Server = createServer((req, res) => {
      if (req.url === '/health') return res.end();
      if (req.url === '/v1/models') return res.end(JSON.stringify({ data: [{ id: 'orchestrator' }] }));
      res.writeHead(404).end('{"detail":"Not Found"}');
    });
    await new Promise<void>((ok) => router.listen(0, '127.0.0.1', ok));
    closers.push(() => new Promise((ok) => router.close(ok)));
    const routerUrl = `http://127.0.0.1:${(router.address() as AddressInfo).port}`;
    const r = await doctorJson([spec.url, routerUrl]);
    expect(r.code).toBe(0);
    expect(r.findings.map((f) => [f.severity, f.check, f.message])).toEqual([
      [
        'warning',
        'spec-decode',
        'speculative decoding is on (vllm:spec_decode_* on /metrics) with gpu_memory_utilization 0.9 (vllm:cache_config_info)',
      ],
      ['warning', 'server', expect.stringMatching(/^no \/metrics \(.*404/)],
      ['info', 'vllm-version', 'the server answers no /version: its known breakages cannot be checked'],
    ]);
  });

  it('--probe checks the endpoints a model-config names, with the orchestrator making tool calls', async () => {
    const orch = await sim('/ckpt/Nemotron-Orchestrator-8B', '0.12.0');
    const oss = await sim('openai/gpt-oss-20b', '0.12.0');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'doctor-probe-'));
    writeFileSync(
      join(dir, 'mc.json'),
      JSON.stringify({
        '/ckpt/Nemotron-Orchestrator-8B': [{ ip_addr: '127.0.0.1', port: String(orch.endpoints[0]!.port) }],
        'openai/gpt-oss-20b': [{ ip_addr: '127.0.0.1', port: String(oss.endpoints[0]!.port) }],
        oss_expert_mapping: { 'expert-1': 'openai/gpt-oss-20b' },
      }),
    );
    const { io, out } = captureIo({ cwd: dir });
    expect(await runMain(['doctor', 'mc.json', '--json'], io)).toBe(0);
    expect((JSON.parse(out.join('')) as { findings: Finding[] }).findings).toEqual([]);
    const probed = captureIo({ cwd: dir });
    expect(await runMain(['doctor', 'mc.json', '--probe', '--json'], probed.io)).toBe(1);
    const fs = (JSON.parse(probed.out.join('')) as { findings: Finding[] }).findings;
    // the expert makes no tool calls: only the orchestrator's server is hit by 0.12.0's breakage
    expect(fs.map((f) => [f.severity, f.check, f.where.split(' ')[0]])).toEqual([
      ['error', 'vllm-version', `/ckpt/Nemotron-Orchestrator-8B@127.0.0.1:${orch.endpoints[0]!.port}`],
    ]);
  });
});

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchMetrics } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { parseTopology } from '../sim/server/topology.js';
import { checkEndpoints } from './check.js';
import { parseModelConfig } from './model-config.js';

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("a model that thinks past the smoke call's max_tokens", () => {
  it('keeps the length_cut_inside_think warning (a thinking model not named Qwen3 gets no /no_think)', async () => {
    const sim = await startSimServers({
      servers: [
        { model: 'Qwen/Qwen3-32B-FP8', servedModelName: 'house-reasoner', persona: 'qwen3', port: 0 },
      ],
    });
    try {
      const rep = await checkEndpoints({
        endpoints: [{ url: sim.endpoints[0]!.url, model: 'house-reasoner' }],
        gpu: false,
        chatTimeoutMs: 10_000,
      });
      const e = rep.endpoints[0]!;
      expect(e.ready).toBe(true);
      expect(e.quirks).toEqual(['think_in_content', 'length_cut_inside_think']);
      const cut = e.problems.find((p) => p.message.includes('inside <think>'));
      expect(cut?.severity).toBe('warn');
      // the warning says it was this check's own short request
      expect(cut?.message).toMatch(/this check's request had max_tokens 32/);
    } finally {
      await sim.close();
    }
  }, 20_000);
});

describe('the simulator with V0 metric names', () => {
  it('fetchMetrics falls back to the V0 names', async () => {
    const sim = await startSimServers({
      servers: [{ model: 'meta-llama/Llama-3.1-8B-Instruct', port: 0 }],
      metricsNames: 'v0',
    });
    try {
      const snap = await fetchMetrics(sim.endpoints[0]!.url);
      expect(snap.namesUsed.kvUsageFrac).toBe('vllm:gpu_cache_usage_perc');
      expect(snap.combined.kvUsageFrac).toBeGreaterThanOrEqual(0);
    } finally {
      await sim.close();
    }
  });
});

describe("check against the simulator's W1 topology (on free ports)", () => {
  let sim: SimServers;
  beforeAll(async () => {
    const parsed = parseTopology(
      readFileSync(join(import.meta.dirname, '../../examples/w1-topology.yaml'), 'utf8'),
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    sim = await startSimServers({
      servers: parsed.topology.servers.map((s) => ({ ...s, port: 0 })),
      seed: 1,
    });
  }, 20_000);
  afterAll(async () => {
    await sim?.close();
  });

  it('the sim /metrics page parses and canonicalises', async () => {
    const ep = sim.endpoints[0]!;
    const text = await (await fetch(`${ep.url}/metrics`)).text();
    const r = parsePrometheusText(text);
    expect(r.ok).toBe(true);
    const snap = await fetchMetrics(ep.url);
    expect(snap.kind).toBe('vllm');
    expect(snap.combined.kvUsageFrac).toBeGreaterThanOrEqual(0);
    expect(snap.namesUsed.kvUsageFrac).toBe('vllm:kv_cache_usage_perc');
  });

  it('names each problem', async () => {
    const byModel = new Map<string, typeof sim.endpoints>();
    for (const e of sim.endpoints) byModel.set(e.model, [...(byModel.get(e.model) ?? []), e]);
    const config: Record<string, unknown> = {};
    for (const [model, eps] of byModel)
      config[model] = eps.map((e) => ({ ip_addr: '127.0.0.1', port: String(e.port) }));
    const closed = await closedPort();
    (config['openai/gpt-oss-20b'] as unknown[]).push({ ip_addr: '127.0.0.1', port: String(closed) });
    config.oss_expert_mapping = {
      'expert-1': 'openai/gpt-oss-20b',
      'expert-2': 'Qwen/Qwen3-32B-FP8',
      'expert-3': 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8',
    };
    const cfg = parseModelConfig(JSON.stringify(config), 'model-config.json');
    const faults: Record<number, string> = {
      [byModel.get('Qwen/Qwen3-32B-FP8')![1]!.port]: '500',
      [byModel.get('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8')![0]!.port]: 'missing_done',
      [byModel.get('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8')![1]!.port]: 'stream_cut;1',
    };
    const rep = await checkEndpoints({
      endpoints: cfg.endpoints.map((e) => ({
        url: e.url,
        model: e.model,
        tools: e.role === 'orchestrator',
        ...(faults[e.port] ? { headers: { 'x-servelab-fault': faults[e.port]! } } : {}),
      })),
      gpu: false,
      chatTimeoutMs: 10_000,
    });
    const by = (port: number) => rep.endpoints.find((e) => e.label === `127.0.0.1:${port}`)!;
    const codes = (port: number) => by(port).problems.map((p) => `${p.severity}:${p.code}`);
    const [orch] = byModel.get('/ckpt/Nemotron-Orchestrator-8B')!;
    const oss = byModel.get('openai/gpt-oss-20b')!;
    const [qwenOk, qwen500] = byModel.get('Qwen/Qwen3-32B-FP8')!;
    const [nextNoDone, nextCut] = byModel.get('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8')!;

    expect(rep.endpoints).toHaveLength(10);
    expect(rep.ready).toBe(false);
    // the orchestrator answers the tool-call completion with tool_calls
    expect(by(orch!.port).ready).toBe(true);
    expect(by(orch!.port).stages.tools?.status).toBe('ok');
    // gpt-oss: content null, text in reasoning: a quirk, not a failure
    for (const e of oss) {
      expect(by(e.port).ready).toBe(true);
      expect(by(e.port).quirks).toEqual(['content_null_with_reasoning']);
    }
    expect(codes(closed)).toEqual(['error:not_listening']);
    // qwen3 is asked with /no_think, as W1 calls it: an empty think block, then the answer;
    // an info note, no warning
    expect(by(qwenOk!.port).ready).toBe(true);
    expect(by(qwenOk!.port).quirks).toEqual(['think_in_content']);
    expect(by(qwenOk!.port).problems.map((p) => p.severity)).toEqual(['info']);
    expect(codes(qwen500!.port)).toEqual(['error:chat_failed']);
    expect(by(qwen500!.port).problems[0]!.message).toMatch(/server_error \(HTTP 500\)/);
    expect(by(nextNoDone!.port).problems[0]!.message).toMatch(/^chat completion failed: no_done/);
    expect(by(nextCut!.port).problems[0]!.message).toMatch(/^chat completion failed: reset/);
    expect(rep.endpoints.filter((e) => e.ready)).toHaveLength(6);
    for (const e of rep.endpoints.filter((x) => x.label !== `127.0.0.1:${closed}`))
      expect(e.version).toBe('0.11.0');
  }, 30_000);
});

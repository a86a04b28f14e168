/**
 * The shipped examples/model-config.json (the README tour's file): it loads with both real
 * loaders (preflight's for check / scrape / monitor, the experiment's for agent and specs), lists
 * exactly the W1 endpoints that `servelab sim --topology examples/w1-topology.yaml` serves, and
 * `servelab check --config` on it passes against that simulated topology (started on free ports,
 * the file's ports rewritten to them, so parallel test runs never collide on the W1 ports).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { loadModelConfigFile as loadForSpec } from '../config/load.js';
import { EXIT } from '../errors.js';
import { startSimServers } from '../sim/server/index.js';
import { parseTopology } from '../sim/server/topology.js';
import { endpointsFromFlags, loadModelConfigFile } from './flags.js';

const EXAMPLES = resolve(import.meta.dirname, '..', '..', 'examples');
const CONFIG = join(EXAMPLES, 'model-config.json');

function w1Topology() {
  const parsed = parseTopology(readFileSync(join(EXAMPLES, 'w1-topology.yaml'), 'utf8'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.topology;
}

describe('examples/model-config.json', () => {
  it("is the users' W1 file: string ports, oss_expert_mapping, vllm_model_config_path", () => {
    const raw = JSON.parse(readFileSync(CONFIG, 'utf8')) as Record<string, unknown>;
    const orchestrator = raw['/ckpt/Nemotron-Orchestrator-8B'] as { ip_addr: string; port: unknown }[];
    expect(orchestrator).toEqual([{ ip_addr: '127.0.0.1', port: '1900' }]);
    for (const [k, v] of Object.entries(raw))
      if (Array.isArray(v)) for (const r of v) expect(typeof r.port, k).toBe('string');
    expect(raw.oss_expert_mapping).toEqual({
      'expert-1': 'openai/gpt-oss-20b',
      'expert-2': 'Qwen/Qwen3-32B-FP8',
      'expert-3': 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8',
    });
    expect(raw.vllm_model_config_path).toBe('examples/model-config.json');
    // `servelab agent` takes the first model as the orchestrator
    expect(Object.keys(raw)[0]).toBe('/ckpt/Nemotron-Orchestrator-8B');
  });

  it('loads with the loader check / scrape use: roles, experts, no notes', () => {
    const cfg = loadModelConfigFile('examples/model-config.json', resolve(EXAMPLES, '..'));
    expect(cfg.notes).toEqual([]);
    expect(cfg.ignoredKeys).toEqual([]);
    expect(cfg.vllmModelConfigPath).toBe('examples/model-config.json');
    const ports = (role: string) => cfg.endpoints.filter((e) => e.role === role).map((e) => e.port);
    expect(ports('orchestrator')).toEqual([1900]);
    expect(ports('expert')).toEqual([1910, 1911, 1912, 1913, 1904, 1905, 1920, 1921]);
    expect(cfg.endpoints.find((e) => e.port === 1904)).toMatchObject({
      model: 'Qwen/Qwen3-32B-FP8',
      url: 'http://127.0.0.1:1904',
      experts: ['expert-2'],
    });
    const { endpoints } = endpointsFromFlags(
      { config: 'examples/model-config.json' },
      resolve(EXAMPLES, '..'),
    );
    expect(endpoints).toHaveLength(9);
  });

  it('loads with the loader agent and specs use', () => {
    const cfg = loadForSpec(CONFIG);
    expect(Object.keys(cfg.models)).toEqual([
      '/ckpt/Nemotron-Orchestrator-8B',
      'openai/gpt-oss-20b',
      'Qwen/Qwen3-32B-FP8',
      'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8',
    ]);
    expect(cfg.models['openai/gpt-oss-20b']!.map((r) => r.port)).toEqual([1910, 1911, 1912, 1913]);
    expect(cfg.experts['expert-3']).toBe('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8');
  });

  it('lists exactly the endpoints of examples/w1-topology.yaml (model and port per replica)', () => {
    const fromTopology = w1Topology().servers.flatMap((s) =>
      Array.from({ length: s.dp ?? 1 }, (_, k) => `${s.model} ${s.port! + k}`),
    );
    const cfg = loadModelConfigFile(CONFIG, EXAMPLES);
    expect(cfg.endpoints.map((e) => `${e.model} ${e.port}`).sort()).toEqual(fromTopology.sort());
  });

  it('servelab check --config passes against the simulated W1 topology', async () => {
    const topo = w1Topology();
    const sim = await startSimServers({ servers: topo.servers.map((s) => ({ ...s, port: 0 })), seed: 1 });
    try {
      // W1 port -> the free port the same replica got
      const portOf = new Map<number, number>();
      for (const s of topo.servers) {
        const reps = sim.endpoints.filter((e) => e.model === s.model).sort((a, b) => a.replica - b.replica);
        reps.forEach((e, k) => {
          portOf.set(s.port! + k, e.port);
        });
      }
      const text = readFileSync(CONFIG, 'utf8').replace(/"port": "(\d+)"/g, (_, p: string) => {
        const to = portOf.get(Number(p));
        if (to === undefined) throw new Error(`the topology has no replica on port ${p}`);
        return `"port": "${to}"`;
      });
      const dir = mkdtempSync(join(tmpdir(), 'servelab-example-config-'));
      writeFileSync(join(dir, 'model-config.json'), text);
      const { io, out, err } = captureIo({ cwd: dir });
      const code = await runMain(['check', '--config', 'model-config.json'], io);
      expect(code, `${out.join('')}\n${err.join('')}`).toBe(EXIT.ok);
    } finally {
      await sim.close();
    }
  }, 60_000);
});

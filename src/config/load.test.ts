import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseModelConfig, parseSpecText } from './load.js';
import { endpointsOf } from './model-config.js';
import { redact } from './secrets.js';
import { describeSpec } from './spec.js';

const GOOD = `name: t
servers:
  s:
    kind: external
    endpoints: {"/ckpt/o": [{"ip_addr": "127.0.0.1", "port": "1900"}]}
arms: [{name: a, servers: s}]
workload: {generator: {count: 4}}
agent: {orchestrator: /ckpt/o}
concurrency: [2]
`;

describe('spec loading', () => {
  it('accepts a valid spec with defaults and describes it in one line', () => {
    const r = parseSpecText(GOOD);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.limits.maxSteps).toBe(200);
    expect(r.spec.arms[0]?.programFields).toEqual([
      'program_id',
      'job_id',
      'is_last_step',
      'this_func_call',
      'last_func_call',
    ]);
    const line = describeSpec(r.spec);
    expect(line).not.toContain('\n');
    expect(line).toContain('C=2');
  });

  it('reports every error at once with line:col of the offending node', () => {
    const text = `name: "bad name!"
servers:
  s:
    kind: external
    endpoints: {"m": [{"ip_addr": "127.0.0.1", "port": "19x0"}]}
arms:
  - name: a
    servers: nope
workload: {generator: {count: -1}}
agent: {orchestrator: m}
concurrency: [0]
metrics: {intervalMs: 5}
`;
    const r = parseSpecText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const at = (p: string) => r.issues.find((i) => i.path === p);
    expect(at('name')).toMatchObject({ line: 1, col: 7 });
    expect(at('servers.s.endpoints.m[0].port')).toMatchObject({ line: 5 });
    expect(at('arms[0].servers')).toMatchObject({ line: 8, col: 14 });
    expect(at('workload.generator.count')).toMatchObject({ line: 9 });
    expect(at('concurrency[0]')).toMatchObject({ line: 11, col: 15 });
    expect(at('metrics.intervalMs')).toMatchObject({ line: 12 });
    expect(r.issues.length).toBeGreaterThanOrEqual(6);
  });

  it('points a missing required key at its parent and names YAML syntax errors', () => {
    const r = parseSpecText('name: t\nservers: {}\narms: []\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['workload']));
    // agent and load levels are required by the workload's kind (agent programs here)
    const a = parseSpecText(
      'name: t\nservers: {s: {kind: external, endpoints: {m: [{ip_addr: 127.0.0.1, port: 1}]}}}\narms: [{name: a, servers: s}]\nworkload: {generator: {}}\n',
    );
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['agent', 'concurrency']));
    const y = parseSpecText('name: [unclosed\n');
    expect(y.ok).toBe(false);
    if (!y.ok) expect(y.issues[0]?.line).toBeGreaterThan(0);
  });

  it('parses the shipped examples', () => {
    for (const f of [
      'examples/agentic-quickstart.yaml',
      'examples/agentic-quickstart-realtime.yaml',
      'examples/w2-three-arms.yaml',
      'examples/w2-sim-three-arms.yaml',
    ]) {
      const r = parseSpecText(readFileSync(f, 'utf8'));
      if (!r.ok) throw new Error(`${f}: ${JSON.stringify(r.issues)}`);
      expect(describeSpec(r.spec)).toMatch(/C=32\/64\/128/);
    }
  });
});

describe("the users' model-config JSON", () => {
  it('reads string ports, the expert mapping, and ignores non-model keys', () => {
    const cfg = parseModelConfig(
      {
        '/ckpt/Nemotron-Orchestrator-8B': [{ ip_addr: '127.0.0.1', port: '1900' }],
        'openai/gpt-oss-20b': [
          { ip_addr: '127.0.0.1', port: '1910' },
          { ip_addr: '127.0.0.1', port: '1911' },
        ],
        oss_expert_mapping: { 'expert-1': 'openai/gpt-oss-20b' },
        vllm_model_config_path: '/somewhere/config.json',
      },
      'cfg.json',
    );
    expect(cfg.experts).toEqual({ 'expert-1': 'openai/gpt-oss-20b' });
    const eps = endpointsOf(cfg);
    expect([...eps.keys()]).toEqual(['/ckpt/Nemotron-Orchestrator-8B', 'openai/gpt-oss-20b']);
    expect(eps.get('openai/gpt-oss-20b')?.map((e) => e.baseUrl)).toEqual([
      'http://127.0.0.1:1910/v1',
      'http://127.0.0.1:1911/v1',
    ]);
  });

  it('names every bad replica', () => {
    expect(() =>
      parseModelConfig({ a: [{ ip_addr: '127.0.0.1', port: 'x' }], b: [{ port: '1' }] }, 'cfg.json'),
    ).toThrow(/2 error\(s\)[\s\S]*a\[0\]\.port: a port[\s\S]*b\[0\]\.ip_addr/);
  });
});

describe('redaction', () => {
  it('replaces secret-looking env values, keeps references', () => {
    const out = redact({
      env: { HF_TOKEN: 'hf_abc', CUDA_VISIBLE_DEVICES: '0' },
      apiKey: { env: 'OPENAI_API_KEY' },
    });
    expect(out).toEqual({
      env: { HF_TOKEN: '<redacted>', CUDA_VISIBLE_DEVICES: '0' },
      apiKey: { env: 'OPENAI_API_KEY' },
    });
  });
});

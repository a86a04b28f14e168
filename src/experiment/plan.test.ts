import { describe, expect, it } from 'vitest';
import { parseSpecText } from '../config/load.js';
import type { Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import { planExperiment, planLines } from './plan.js';

function spec(text: string): Spec {
  const r = parseSpecText(text);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.spec;
}

const TEXT = `
name: p
servers:
  sim1:
    kind: sim
    topology: {servers: [{model: meta-llama/Llama-3.1-8B-Instruct, port: 1900}]}
  vllm:
    kind: command
    processes: [{label: v, argv: [vllm, serve, "a b"], port: 8000}]
    endpoints: {m: [{ip_addr: 127.0.0.1, port: "8000"}]}
arms:
  - {name: base, servers: sim1}
  - name: real
    servers: vllm
ARM_EXTRA
concurrency: [2, 4]
repetitions: 2
seed: 7
agent: {orchestrator: meta-llama/Llama-3.1-8B-Instruct}
workload: {generator: {count: 3}}
`;

describe('planExperiment: arms x server configs x load levels x repetitions', () => {
  it('orders cells arm, config, C, rep with ids, seeds and one config per arm', () => {
    const plan = planExperiment(spec(TEXT.replace('ARM_EXTRA', '')));
    expect(plan.mode).toBe('real');
    expect(plan.cells.map((c) => c.id)).toEqual([
      'base/c2/r1',
      'base/c2/r2',
      'base/c4/r1',
      'base/c4/r2',
      'real/c2/r1',
      'real/c2/r2',
      'real/c4/r1',
      'real/c4/r2',
    ]);
    expect(plan.cells.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(plan.cells.map((c) => c.seed)).toEqual([7, 8, 7, 8, 7, 8, 7, 8]);
    expect(plan.cells[0]?.server).toMatchObject({ name: 'sim1', launcher: 'sim-http', params: {} });
    expect(plan.cells[4]?.server.launcher).toBe('command');
    // one server config object per arm: its cells share it (servers restart per cell, not per config)
    expect(new Set(plan.cells.slice(0, 4).map((c) => c.server)).size).toBe(1);
    expect(plan.cells[2]?.load).toEqual({ kind: 'concurrency', concurrency: 4 });
  });

  it('in virtual time, sim runs in-process and a command arm without simulateAs is refused by name (exit 2)', () => {
    const s = spec(TEXT.replace('ARM_EXTRA', ''));
    let err: unknown;
    try {
      planExperiment(s, 'virtual');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServelabError);
    expect((err as ServelabError).exitCode).toBe(2);
    expect((err as ServelabError).message).toMatch(
      /^arm real: its servers \(servers\.vllm\) are kind command/,
    );
    expect((err as ServelabError).hint).toMatch(/simulateAs/);
  });

  it('simulateAs names the simulated system that stands in for the arm in virtual time only', () => {
    const s = spec(
      TEXT.replace(
        'ARM_EXTRA',
        '    simulateAs: {topology: {servers: [{model: meta-llama/Llama-3.1-8B-Instruct}]}, overrides: {stepTimeScale: 0.5}}',
      ),
    );
    const v = planExperiment(s, 'virtual');
    expect(v.cells[0]?.server.launcher).toBe('sim-virtual');
    expect(v.cells[4]?.server).toMatchObject({
      name: 'vllm',
      launcher: 'sim-virtual',
      standsInFor: 'command',
      spec: { kind: 'sim', overrides: { stepTimeScale: 0.5 } },
    });
    // in real time the arm's own servers run
    expect(planExperiment(s, 'real').cells[4]?.server.launcher).toBe('command');
    const lines = planLines(v);
    expect(lines[0]).toBe(
      'plan: 8 cell(s) in virtual time, 2 server config(s) (fresh servers for every cell)',
    );
    expect(lines).toContain(
      '  servers.vllm for arm real: sim-virtual (simulateAs, for kind command): topology inline',
    );
    expect(lines).toContain('    cell 8 of 8: real/c4/r2 (C=4, seed 8)');
    expect(planLines(planExperiment(s))).toContain(
      "  servers.vllm for arm real: command: v: vllm serve 'a b'",
    );
  });
});

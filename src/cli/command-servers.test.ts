/**
 * W2's shape end to end with `command` servers: each arm's recipe starts real server processes
 * (here `servelab sim`, the built CLI, standing in for `vllm serve`), servelab waits for their
 * health, drives the agents, keeps a log per process, tears the process groups down, and the
 * analysis flags that the two arms ran different server versions. `npm test` builds dist/ first.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../testing/free-port.js';
import { runMain } from './main.js';
import { captureIo } from './testing/capture-io.js';

const BIN = resolve('bin/servelab.js');
const ORCH = '/ckpt/Nemotron-Orchestrator-8B';

async function armServers(name: string, version: string): Promise<string[]> {
  const [orch, expert] = [await freePort(), await freePort()];
  const sim = (label: string, port: number, model: string, persona: string) => [
    `      - label: ${label}`,
    `        argv: ${JSON.stringify([process.execPath, BIN, 'sim', '--model', model, '--persona', persona, '--port', String(port), '--version-string', version])}`,
    `        port: ${port}`,
    `        health: http://127.0.0.1:${port}/health`,
  ];
  return [
    `  ${name}:`,
    '    kind: command',
    '    healthTimeoutS: 60',
    '    processes:',
    ...sim(`orchestrator-${orch}`, orch, ORCH, 'orchestrator'),
    ...sim(`expert-${expert}`, expert, 'openai/gpt-oss-20b', 'gpt-oss'),
    '    endpoints:',
    `      "${ORCH}": [{ip_addr: "127.0.0.1", port: "${orch}"}]`,
    `      "openai/gpt-oss-20b": [{ip_addr: "127.0.0.1", port: "${expert}"}]`,
    '      oss_expert_mapping: { expert-1: "openai/gpt-oss-20b" }',
  ];
}

describe('command servers (W2 shape) end to end', () => {
  it('starts each arm fresh from argv, logs each process, tears it down, and flags the version confound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-command-'));
    const spec = [
      'name: w2-mini',
      'seed: 3',
      'servers:',
      ...(await armServers('old', '0.10.2')),
      ...(await armServers('new', '0.11.0')),
      'arms:',
      '  - { name: old, servers: old }',
      '  - { name: new, servers: new }',
      'workload:',
      '  generator:',
      '    count: 3',
      '    systemPromptTokens: 100',
      '    overrides: { retail: { userTurns: { min: 0, max: 0 } }, telecom: { userTurns: { min: 0, max: 0 } }, airline: { userTurns: { min: 0, max: 0 } } }',
      'agent: { orchestrator: "/ckpt/Nemotron-Orchestrator-8B", timeScale: 0.01, maxTokens: 128, expertMaxTokens: 32 }',
      'concurrency: [3]',
      'limits: { maxSteps: 40, maxTaskTimeS: 60, callTimeoutS: 20, watchdogS: 30, graceS: 1 }',
      'metrics: { intervalMs: 200 }',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'spec.yaml'), spec);
    const c = captureIo({ cwd: dir });
    const code = await runMain(['run', 'spec.yaml'], c.io);
    const out = c.out.join('');
    expect(code, c.err.join('')).toBe(0);
    const runDir = /run directory: (.+)/.exec(out)?.[1]?.trim() ?? '';
    for (const arm of ['old', 'new']) {
      const cell = join(runDir, arm, 'c3', 'r1');
      expect(JSON.parse(readFileSync(join(cell, 'cell.json'), 'utf8')).status).toBe('complete');
      expect(readFileSync(join(cell, 'tasks.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    }
    // one log per process, holding what the server printed
    const logs = readFileSync(
      join(runDir, 'old', 'c3', 'r1', 'logs', `${spec.match(/label: (orchestrator-\d+)/)![1]}.log`),
      'utf8',
    );
    expect(logs).toMatch(/GPU KV cache size: [\d,]+ tokens/);
    // every process is gone after its cell
    for (const port of [...spec.matchAll(/port: (\d+)\n/g)].map((m) => Number(m[1])))
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    // the versions each server reported are recorded, and the comparison says they differ
    const env = readFileSync(join(runDir, 'environment.json'), 'utf8');
    expect(env).toContain('0.10.2');
    expect(env).toContain('0.11.0');
    expect(readFileSync(join(runDir, 'compare.md'), 'utf8')).toMatch(
      /arms ran DIFFERENT server versions: old: 0\.10\.2; new: 0\.11\.0/,
    );
    expect(existsSync(join(runDir, 'report.html'))).toBe(true);
  }, 120_000);
});

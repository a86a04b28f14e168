/**
 * Commands servelab prints for pasting (`servelab analyze DIR`, the `--resume` line) hold paths
 * that come from the user. Pasted into bash, each must give back the literal path and run
 * nothing: a run directory under `runs $(touch x)` is the test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from './main.js';
import { captureIo } from './testing/capture-io.js';

/** The words bash makes of a pasted command line, in an empty directory that must stay empty. */
function pasted(line: string): string[] {
  const cwd = mkdtempSync(join(tmpdir(), 'servelab-paste-'));
  const out = execFileSync('bash', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8', cwd });
  expect(readdirSync(cwd), `pasting ${line} ran something`).toEqual([]);
  return out.split('\0').slice(0, -1);
}

function writeSpec(count: number): { dir: string; spec: string; outDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-hints-'));
  const outDir = join(dir, "my runs $(touch x) it's");
  mkdirSync(outDir);
  const spec = join(dir, 'spec $(touch y).yaml');
  const topology = join(process.cwd(), 'examples', 'w1-topology.yaml');
  writeFileSync(
    spec,
    [
      'name: hints',
      'seed: 1',
      'servers:',
      '  w1:',
      '    kind: sim',
      `    topology: ${JSON.stringify(topology)}`,
      '    overrides: { stepTimeMs: 1, freePorts: true }',
      'arms: [{ name: a, servers: w1 }]',
      `workload: { generator: { count: ${count}, systemPromptTokens: 50 } }`,
      'agent: { orchestrator: /ckpt/Nemotron-Orchestrator-8B, timeScale: 0.01, maxTokens: 128, expertMaxTokens: 32 }',
      'concurrency: [2]',
      'limits: { maxSteps: 20, maxTaskTimeS: 30, callTimeoutS: 10, graceS: 0.2 }',
      'metrics: { intervalMs: 200 }',
      `outDir: ${JSON.stringify(outDir)}`,
      '',
    ].join('\n'),
  );
  return { dir, spec, outDir };
}

describe('printed commands survive a paste into a shell', () => {
  it('the analyze hint of a run whose directory holds $(...), a quote and spaces', async () => {
    const { dir, spec, outDir } = writeSpec(2);
    // the shell's PWD is where the run lives: a path, not a secret to scrub from the hint
    const c = captureIo({ cwd: dir, env: { PWD: dir, OLDPWD: dir } });
    const code = await runMain(['run', spec], c.io);
    expect(code, c.err.join('')).toBe(0);
    const line = /windows and tails: (.+)/.exec(c.out.join(''))?.[1];
    expect(line).toBeDefined();
    const words = pasted(line!);
    expect(words.slice(0, 2)).toEqual(['servelab', 'analyze']);
    expect(words).toHaveLength(3);
    expect(words[2]!.startsWith(`${outDir}/hints-`)).toBe(true);
    expect(existsSync(join(words[2]!, 'a', 'c2', 'r1', 'tasks.jsonl'))).toBe(true);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  }, 60_000);

  it('the --resume hint after Ctrl-C names the spec and the run directory, both literal', async () => {
    const { dir, spec, outDir } = writeSpec(400);
    const ac = new AbortController();
    const c = captureIo({ cwd: dir, signal: ac.signal });
    // Ctrl-C once the cell has started
    const poll = setInterval(() => {
      if (c.err.join('').includes('tasks at C=')) {
        clearInterval(poll);
        ac.abort();
      }
    }, 20);
    try {
      expect(await runMain(['run', spec], c.io)).toBe(130);
    } finally {
      clearInterval(poll);
    }
    const line = /continue with: (.+)/.exec(c.err.join(''))?.[1];
    expect(line, c.err.join('')).toBeDefined();
    const words = pasted(line!);
    expect(words.slice(0, 3)).toEqual(['servelab', 'run', spec]);
    expect(words[3]).toBe('--resume');
    expect(words[4]!.startsWith(`${outDir}/hints-`)).toBe(true);
    expect(existsSync(join(words[4]!, 'spec.yaml'))).toBe(true);
    expect(words).toHaveLength(5);
  }, 60_000);
});

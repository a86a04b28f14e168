/**
 * The real CLI process (bin/servelab.js, the built dist/) under a real SIGINT and a SIGKILL,
 * mid-run, on a simulated topology of its own (ports picked by the OS): what was measured is
 * kept, and `servelab analyze` reads the partial run. `npm test` builds dist/ before vitest.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = resolve('bin/servelab.js');

function writeSpec(): string {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-signals-'));
  writeFileSync(
    join(dir, 'topology.yaml'),
    [
      'servers:',
      '  - { name: orchestrator, model: /ckpt/Nemotron-Orchestrator-8B, persona: orchestrator, gpu: RTX-5090-32GB, port: 0 }',
      '  - { name: expert-1, model: openai/gpt-oss-20b, persona: gpt-oss, gpu: H100-SXM-80GB, port: 0 }',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'spec.yaml'),
    [
      'name: signals',
      'seed: 2',
      'servers: { s: { kind: sim, topology: topology.yaml } }',
      'arms: [{ name: a, servers: s }]',
      'workload: { generator: { count: 200, systemPromptTokens: 200, overrides: { retail: { userTurns: { min: 0, max: 1 } }, telecom: { userTurns: { min: 0, max: 1 } }, airline: { userTurns: { min: 0, max: 1 } } } } }',
      'agent: { orchestrator: /ckpt/Nemotron-Orchestrator-8B, timeScale: 0.02, expertMaxTokens: 200, user: { mode: scripted } }',
      'concurrency: [4]',
      'limits: { maxSteps: 60, maxTaskTimeS: 60, callTimeoutS: 20, watchdogS: 30, graceS: 1 }',
      'metrics: { intervalMs: 200 }',
      '',
    ].join('\n'),
  );
  return dir;
}

/** start `servelab run`; once a few tasks have ended (tasks.jsonl on disk), send `sig` */
function runUntilSignal(
  dir: string,
  sig: NodeJS.Signals,
): Promise<{ code: number | null; signal: string | null; stderr: string; stdout: string }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'run', 'spec.yaml'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const tasksEnded = () => {
    try {
      const runs = readdirSync(join(dir, 'runs'));
      return readFileSync(join(dir, 'runs', runs[0]!, 'a/c4/r1/tasks.jsonl'), 'utf8').split('\n').length - 1;
    } catch {
      return 0;
    }
  };
  const poll = setInterval(() => {
    if (tasksEnded() >= 3) {
      clearInterval(poll);
      child.kill(sig);
    }
  }, 50);
  const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise((res) =>
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      clearTimeout(guard);
      res({ code, signal, stderr, stdout });
    }),
  );
}

function analyze(runDir: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, 'analyze', runDir], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function runDirOf(dir: string): string {
  const runs = readdirSync(join(dir, 'runs'));
  expect(runs).toHaveLength(1);
  return join(dir, 'runs', runs[0]!);
}

describe('the servelab process under signals', () => {
  it('SIGINT mid-run: exit 130, the cell marked interrupted, records and report kept, analyze reads it', async () => {
    const dir = writeSpec();
    const r = await runUntilSignal(dir, 'SIGINT');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(
      /interrupted: cells done are kept; continue with: servelab run \S+\.yaml --resume /,
    );
    expect(r.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
    // the tasks cut by Ctrl-C are incomplete, not failed: table columns ok/total, failed, incomplete
    expect(r.stdout).toMatch(/^a\s+4\s+1\s+\d+\/\d+\s+0\s+[1-4]\s/m);
    const runDir = runDirOf(dir);
    const cell = JSON.parse(readFileSync(join(runDir, 'a/c4/r1/cell.json'), 'utf8'));
    expect(cell.status).toBe('interrupted');
    const tasks = readFileSync(join(runDir, 'a/c4/r1/tasks.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(tasks.filter((t) => t.status === 'ok').length).toBeGreaterThan(0);
    expect(tasks.length).toBeLessThan(200);
    expect(readFileSync(join(runDir, 'report.html'), 'utf8')).toMatch(/<svg/);
    const a = analyze(runDir);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/a\/c4\/r1\s+interrupted/);
  }, 60_000);

  it('SIGKILL mid-run (a crash): the records flushed so far are on disk and analyze reads the partial run', async () => {
    const dir = writeSpec();
    const r = await runUntilSignal(dir, 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    const runDir = runDirOf(dir);
    const steps = readFileSync(join(runDir, 'a/c4/r1/steps.jsonl'), 'utf8');
    expect(steps.split('\n').filter(Boolean).length).toBeGreaterThan(0);
    const a = analyze(runDir);
    expect(a.code).toBe(0);
    // no end was recorded: the cell is shown as a partial one, not as complete
    expect(a.out).toMatch(/a\/c4\/r1\s+running \(PARTIAL\)/);
  }, 60_000);
});

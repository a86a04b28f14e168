import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../testing/free-port.js';
import { assertPortFree, findExecutable, killGroup, spawnRecipe, waitHealthy } from './local.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local process recipes', () => {
  it('spawns from argv without a shell, logs to <label>.log, waits for health, kills the group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-launch-'));
    const port = await freePort();
    // a value with shell metacharacters reaches the process verbatim
    const script = `console.log('arg:' + process.argv[1] + ' env:' + process.env.SL_TEST);
      require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1');`;
    const p = spawnRecipe(
      {
        label: 'fake-1',
        argv: [process.execPath, '-e', script, '$(touch pwned); `x`'],
        env: { SL_TEST: 'a b;c' },
        port,
      },
      dir,
      process.env,
    );
    await waitHealthy(p, `http://127.0.0.1:${port}/health`, 10_000);
    expect(alive(p.pid)).toBe(true);
    await killGroup(p, 2000);
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(p.pid)).toBe(false);
    expect(readFileSync(join(dir, 'fake-1.log'), 'utf8')).toContain('arg:$(touch pwned); `x` env:a b;c');
    expect(existsSync(join(process.cwd(), 'pwned'))).toBe(false);
  }, 15_000);

  it('reports a process that exits before it is healthy, naming its log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-launch-'));
    const p = spawnRecipe(
      { label: 'dies', argv: [process.execPath, '-e', 'process.exit(3)'], env: {}, port: 9 },
      dir,
      process.env,
    );
    await expect(waitHealthy(p, 'http://127.0.0.1:9/health', 10_000)).rejects.toThrow(
      /dies exited \(code 3[\s\S]*/,
    );
  }, 15_000);
});

describe('why a recipe cannot start', () => {
  it('names an executable that is not on PATH, one that is not there, and one that is not executable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-launch-'));
    const r = { label: 'orch', env: {}, port: 1 };
    expect(() => findExecutable({ ...r, argv: ['vllm'] }, { PATH: dir })).toThrow(
      /cannot start orch: vllm is not on PATH/,
    );
    expect(() => findExecutable({ ...r, argv: [join(dir, 'nope')] }, {})).toThrow(/nope does not exist/);
    const script = join(dir, 'vllm');
    writeFileSync(script, '#!/bin/sh\n');
    chmodSync(script, 0o644);
    expect(() => findExecutable({ ...r, argv: [script] }, {})).toThrow(/is not executable/);
    expect(() => findExecutable({ ...r, argv: ['vllm'] }, { PATH: dir })).toThrow(
      /not on PATH \(.*vllm exists but is not executable\)/,
    );
    chmodSync(script, 0o755);
    expect(findExecutable({ ...r, argv: ['vllm'] }, { PATH: `/nonexistent:${dir}` })).toBe(script);
    // the recipe's own env PATH wins, as spawn would use it
    expect(findExecutable({ ...r, argv: ['vllm'], env: { PATH: dir } }, { PATH: '/nonexistent' })).toBe(
      script,
    );
    // spawnRecipe says the same instead of a bare "could not start"
    expect(() => spawnRecipe({ ...r, argv: ['vllm-nowhere'] }, dir, { PATH: dir })).toThrow(
      expect.objectContaining({ exitCode: 3, message: expect.stringMatching(/vllm-nowhere is not on PATH/) }),
    );
  });

  it('a port something already listens on is refused before launch, with the way out', async () => {
    const s = createServer((c) => c.end());
    await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
    const port = (s.address() as { port: number }).port;
    try {
      await expect(assertPortFree({ label: 'orch', port })).rejects.toThrow(
        new RegExp(`port ${port} is already in use`),
      );
      await expect(assertPortFree({ label: 'orch', port })).rejects.toMatchObject({
        exitCode: 3,
        hint: expect.stringMatching(/stop what listens there .*or give this recipe another port/),
      });
    } finally {
      await new Promise((res) => s.close(res));
    }
    await expect(assertPortFree({ label: 'orch', port })).resolves.toBeUndefined();
  });

  it('a server that exits because its port is taken is reported as such', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-launch-'));
    const script = `console.error('OSError: [Errno 98] error while attempting to bind on address: address already in use'); process.exit(1)`;
    const p = spawnRecipe(
      { label: 'vllm-like', argv: [process.execPath, '-e', script], env: {}, port: 9 },
      dir,
      process.env,
    );
    await expect(waitHealthy(p, 'http://127.0.0.1:9/health', 10_000)).rejects.toThrow(
      /vllm-like exited \(code 1.*: its port is already in use/,
    );
  }, 15_000);
});

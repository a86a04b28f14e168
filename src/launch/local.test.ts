import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../testing/free-port.js';
import { killGroup, spawnRecipe, waitHealthy } from './local.js';

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

import { describe, expect, it } from 'vitest';
import { runMain } from '../main.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    o: {
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => err.push(t),
      isTTY: false,
      env: {},
      cwd: process.cwd(),
      signal: new AbortController().signal,
    },
  };
}

describe('servelab run', () => {
  it('describes the W2 three-arm example without running it', async () => {
    const x = io();
    expect(await runMain(['run', '--dry-run', 'examples/w2-three-arms.yaml'], x.o)).toBe(0);
    expect(x.out.join('')).toMatch(
      /w2-three-arms: 3 arm\(s\) baseline\[command\], router\[command\], kv-ttl\[command\] x C=32\/64\/128 x 3 rep/,
    );
  });

  it('exits 2 with every spec error and its line:col', async () => {
    const x = io();
    const code = await runMain(['run', 'src/cli/commands/testdata-missing.yaml'], x.o);
    expect(code).toBe(2);
    expect(x.err.join('')).toMatch(/cannot read spec/);
  });
});

/** Every --help text points where a user of the package can look: docs, README, not src/ (not shipped). */
import { describe, expect, it } from 'vitest';
import { runMain } from './main.js';
import { captureIo } from './testing/capture-io.js';

async function help(args: string[]): Promise<string> {
  const c = captureIo();
  await runMain([...args, '--help'], c.io);
  return c.out.join('') + c.err.join('');
}

describe('help texts', () => {
  it('no command help names a path under src/', async () => {
    const top = await help([]);
    const commands = [...top.slice(top.indexOf('Commands:')).matchAll(/^ {2}([a-z][\w-]*)/gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['bench', 'check', 'sim', 'run']));
    for (const cmd of ['', ...commands]) {
      const text = await help(cmd ? [cmd] : []);
      expect(text, `servelab ${cmd} --help`).not.toMatch(/\bsrc\//);
    }
  });

  it('sim --help lists the GPU profiles, models and fault kinds it knows', async () => {
    const text = (await help(['sim'])).replace(/\s+/g, ' ');
    expect(text).toContain('RTX-5090-32GB');
    expect(text).toContain('Nemotron-Orchestrator-8B');
    expect(text).toContain('malformed_chunk');
  });
});

import { describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { SERVELAB_VERSION } from '../version.js';
import { runMain } from './main.js';
import { captureIo } from './testing/capture-io.js';

const capture = () => captureIo();

describe('runMain', () => {
  it('prints the version and exits 0', async () => {
    const c = capture();
    expect(await runMain(['--version'], c.io)).toBe(EXIT.ok);
    expect(c.out.join('')).toContain(SERVELAB_VERSION);
  });

  it('rejects an unknown command with the usage exit code and no stack trace', async () => {
    const c = capture();
    expect(await runMain(['no-such-command'], c.io)).toBe(EXIT.usage);
    const err = c.err.join('');
    expect(err).toMatch(/unknown command|too many arguments/);
    expect(err).not.toMatch(/at .*\.ts:\d+/);
  });
});

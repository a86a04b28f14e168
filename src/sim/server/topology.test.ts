import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../../cli/main.js';
import { captureIo } from '../../cli/testing/capture-io.js';
import { EXIT } from '../../errors.js';
import { parseTopology } from './topology.js';

const W1 = readFileSync('examples/w1-topology.yaml', 'utf8');

describe('topology host field', () => {
  it.each(['evil.example@127.0.0.1', '127.0.0.1:1900', 'host/path', 'http://127.0.0.1', '999.1.1.1'])(
    'refuses %j: a host name or an address, nothing else',
    (host) => {
      const r = parseTopology(`host: "${host}"\nservers:\n  - model: m\n`);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.issues).toHaveLength(1);
      expect(r.issues[0]).toMatchObject({ line: 1, path: 'host' });
      expect(r.issues[0]!.message).toMatch(/not a host: give a host name/);
    },
  );

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['gpu-node-1', 'gpu-node-1'],
    ['::1', '::1'],
    ['[::1]', '::1'],
  ])('takes %j', (host, bare) => {
    const r = parseTopology(`host: "${host}"\nservers:\n  - model: m\n`);
    expect(r.ok && r.topology.host).toBe(bare);
  });

  it('servelab sim --topology with host "evil.example@127.0.0.1": exit 2 naming the file and the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-topo-'));
    const file = join(dir, 'evil-topology.yaml');
    writeFileSync(file, `host: "evil.example@127.0.0.1"\n${W1.replace(/^host:.*$/m, '')}`);
    const c = captureIo();
    expect(await runMain(['sim', '--topology', file], c.io)).toBe(EXIT.usage);
    const err = c.err.join('');
    expect(err).toContain(`${file}:1:7: host: not a host`);
    expect(err).not.toMatch(/\n\s+at .*:\d+:\d+/);
  });

  it('servelab run --dry-run of a spec whose sim topology has that host: exit 2 naming the file and the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-topo-'));
    writeFileSync(
      join(dir, 'w1-topology.yaml'),
      `host: "evil.example@127.0.0.1"\n${W1.replace(/^host:.*$/m, '')}`,
    );
    writeFileSync(join(dir, 'spec.yaml'), readFileSync('examples/agentic-quickstart.yaml', 'utf8'));
    const c = captureIo({ cwd: dir });
    expect(await runMain(['run', join(dir, 'spec.yaml'), '--dry-run'], c.io)).toBe(EXIT.usage);
    const err = c.err.join('');
    expect(err).toContain(`${join(dir, 'w1-topology.yaml')}:1:7: host: not a host`);
  });
});

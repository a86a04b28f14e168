import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ServersSpec, serversSchema } from '../config/spec.js';
import { LAUNCHER_KINDS } from './launcher.js';
import { LAUNCHERS, launch, launcherKind } from './registry.js';

const simSpec = serversSchema.parse({
  kind: 'sim',
  topology: { servers: [{ model: 'meta-llama/Llama-3.1-8B-Instruct', port: 1900, gpu: 'H100-SXM-80GB' }] },
  overrides: { stepTimeMs: 20, maxModelLen: 4096 },
}) as Extract<ServersSpec, { kind: 'sim' }>;
const ctx = () => ({
  baseDir: process.cwd(),
  logsDir: mkdtempSync(join(tmpdir(), 'servelab-launch-')),
  env: {},
  seed: 1,
});

describe('launcher registry', () => {
  it('has one launcher per kind; kind sim is HTTP in real time and in-process in virtual time', () => {
    expect(Object.keys(LAUNCHERS).sort()).toEqual([...LAUNCHER_KINDS].sort());
    expect(launcherKind('sim', 'real')).toBe('sim-http');
    expect(launcherKind('sim', 'virtual')).toBe('sim-virtual');
    expect(launcherKind('command', 'real')).toBe('command');
    expect(launcherKind('external', 'real')).toBe('external');
    expect(launcherKind('command', 'virtual')).toBeUndefined();
    expect(launcherKind('external', 'virtual')).toBeUndefined();
  });

  it('sim-http listens on a real port and its metrics page is fetched over HTTP', async () => {
    const s = await launch(
      'sim-http',
      { ...simSpec, overrides: { ...simSpec.overrides, freePorts: true } },
      ctx(),
    );
    try {
      expect(s.virtual).toBeUndefined();
      expect(s.servers[0]?.port).not.toBe(1900);
      const page = await s.fetchText(`${s.servers[0]?.url}/metrics`, { timeoutMs: 5000 });
      expect(page.ok && page.text).toMatch(/vllm:kv_cache_usage_perc/);
    } finally {
      await s.stop();
    }
  });

  it('sim-virtual answers a call in virtual time: no socket, no real waiting, the metrics page in-process', async () => {
    const s = await launch('sim-virtual', simSpec, ctx());
    expect(s.launcher).toBe('sim-virtual');
    // the topology's port names the server; nothing listens on it
    expect(s.servers.map((x) => x.label)).toEqual(['virtual:1900']);
    const ep = s.endpoints.get('meta-llama/Llama-3.1-8B-Instruct')?.[0];
    if (!ep || !s.virtual) throw new Error('no endpoint');
    const t0 = s.clock.now();
    const wall0 = performance.now();
    const result = await s.virtual.drive(
      (async () => {
        await s.clock.sleep(60_000); // a minute of think time, virtual
        return s.transport(1).call({
          endpoint: ep,
          api: 'chat',
          messages: [{ role: 'user', content: 'hello' }],
          stream: true,
          maxTokens: 50,
          extraBody: { ignore_eos: true },
        });
      })(),
    );
    expect(result.status).toBe('ok');
    expect(result.usage?.completionTokens).toBe(50);
    // 60 s of sleep plus 50 decode steps of 20 ms (and a prefill step), all virtual
    expect(result.sentMs - t0).toBe(60_000);
    expect(result.endMs - result.sentMs).toBeGreaterThanOrEqual(50 * 20);
    expect(performance.now() - wall0).toBeLessThan(10_000);
    const page = await s.fetchText('http://virtual:1900/metrics', { timeoutMs: 1 });
    expect(page.ok && page.text).toMatch(/vllm:request_success_total\{[^}]*\} 1/);
    expect((await s.fetchText('http://virtual:1901/metrics', { timeoutMs: 1 })).ok).toBe(false);
    expect(s.virtual.describe).toMatchObject({
      clock: 'virtual',
      engines: [{ label: 'virtual:1900', schedulingPolicy: 'fcfs' }],
    });
    await s.stop();
  });
});

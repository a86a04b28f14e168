/** A spec's sim topology picks each server's scheduling policy, in virtual time as over HTTP. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ServersSpec, serversSchema } from '../config/spec.js';
import { launch } from './registry.js';

const spec = serversSchema.parse({
  kind: 'sim',
  topology: {
    servers: [
      {
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        port: 1900,
        scheduling_policy: 'continuum',
        continuum: { parser: 'hermes', ttl_s: 5 },
      },
    ],
  },
  overrides: { stepTimeMs: 5, maxModelLen: 4096 },
}) as Extract<ServersSpec, { kind: 'sim' }>;

describe('sim-virtual: the topology’s scheduling_policy', () => {
  it('a continuum server pins a tool call in virtual time and says so on its page and in the run description', async () => {
    const s = await launch('sim-virtual', spec, {
      baseDir: process.cwd(),
      logsDir: mkdtempSync(join(tmpdir(), 'servelab-launch-')),
      env: {},
      seed: 1,
    });
    const ep = s.endpoints.get('meta-llama/Llama-3.1-8B-Instruct')?.[0];
    if (!ep || !s.virtual) throw new Error('no endpoint');
    expect((s.virtual.describe.engines as Record<string, unknown>[])[0]).toMatchObject({
      schedulingPolicy: 'continuum',
    });
    const r = await s.virtual.drive(
      s.transport(1).call({
        endpoint: ep,
        api: 'chat',
        messages: [{ role: 'user', content: 'look it up' }],
        tools: [{ type: 'function', function: { name: 'search', parameters: { type: 'object' } } }],
        stream: true,
        extraBody: {
          job_id: 'p1',
          is_last_step: false,
          servelab_directive: { tool_calls: [{ name: 'search', arguments: {} }] },
        },
      }),
    );
    expect(r.finishReason).toBe('tool_calls');
    const page = await s.fetchText(`${s.servers[0]!.url}/metrics`, { timeoutMs: 1000 });
    expect(page.ok && page.text).toMatch(/^servelab:kv_pins_created_total\{[^}]*\} 1\.0$/m);
    await s.stop();
  });
});

/**
 * The router in front of simulated engines: in-process on the virtual clock (sim-virtual) and as
 * an HTTP proxy in real time (sim-http), with the time a call waited there in its result.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stepTableFromRecords } from '../analysis/step-table.js';
import { timeBreakdown } from '../analysis/time-breakdown.js';
import { type ServersSpec, serversSchema } from '../config/spec.js';
import { launch } from '../launch/registry.js';
import { createSimTransport } from '../loadgen/sim-transport.js';
import type { CallRequest } from '../loadgen/transport.js';
import { VirtualClock } from '../sim/clock.js';
import { createEngine } from '../sim/engine.js';
import { SimService } from '../sim/service.js';
import { createInProcessRouter } from './in-process.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

function chat(endpoint: CallRequest['endpoint'], programId: string, text: string): CallRequest {
  return {
    endpoint,
    api: 'chat',
    stream: true,
    maxTokens: 4,
    messages: [{ role: 'user', content: text }],
    extraBody: { program_id: programId, job_id: programId },
  };
}

describe('in-process router on the virtual clock', () => {
  it('holds a program larger than the backend until the next tick, then sends it there; the wait is routerQueueMs', async () => {
    const clock = new VirtualClock(0);
    const engine = createEngine({ model: MODEL, gpu: 'H100', maxModelLen: 8192, stepTimeMs: 5 }, clock);
    const service = new SimService({ engine, clock, seed: 1, modelName: MODEL });
    const seen: Record<string, unknown>[] = [];
    let cap = 100;
    const sim = createSimTransport({ clock, services: service });
    const spy = {
      call: (r: CallRequest) => {
        seen.push({ ...r.extraBody });
        return sim.call(r);
      },
    };
    const router = createInProcessRouter({
      clock,
      transport: spy,
      endpoint: { baseUrl: 'http://virtual:19000/v1', model: MODEL },
      // capacity 100 tokens: a 2,000-character body (~500 tokens) does not fit, so it waits paused
      backends: [
        {
          id: 'http://virtual:1900',
          endpoint: { baseUrl: 'http://virtual:1900/v1', model: MODEL },
          read: () => ({ capacityTokens: cap, kvUsageFrac: 0 }),
        },
      ],
      mode: 'tr',
      decodeReserveTokens: 0,
      intervalMs: 1000,
    });
    const big = await sim.drive(router.transport.call(chat(router.endpoint, 'p1', 'x'.repeat(2000))));
    expect(big.error).toBeUndefined();
    expect(big.status).toBe('ok');
    // arrived at t=0, resumed by the tick at t=1000 (an empty backend takes a program that does not fit)
    expect(big.routerQueueMs).toBe(1000);
    expect(big.sentMs).toBe(0);
    // program_id is stripped before the engine; job_id (the KV-TTL fork's field) is passed on
    expect(seen[0]).toEqual({ job_id: 'p1' });
    expect(router.core.programView('p1')).toMatchObject({ tokensFrom: 'usage', steps: 1 });
    // room for it now: its next call (its context known from usage) goes at once
    cap = 100_000;
    router.tickNow();
    expect(router.core.programView('p1')).toMatchObject({ state: 'active', backend: 'http://virtual:1900' });
    const next = await sim.drive(router.transport.call(chat(router.endpoint, 'p1', 'short')));
    expect(next.routerQueueMs).toBe(0);
    expect(router.release('p1')).toBe(true);
    expect(router.core.stats().programs).toBe(0);
    router.stop();
  });
});

const topology = (router?: Record<string, unknown>) =>
  serversSchema.parse({
    kind: 'sim',
    topology: {
      servers: [
        { name: 'orchestrator', model: MODEL, port: 1900, dp: 2 },
        { name: 'expert-1', model: 'Qwen/Qwen3-32B-FP8', port: 1910 },
      ],
    },
    overrides: { stepTimeMs: 2, maxModelLen: 4096, freePorts: true },
    ...(router ? { router } : {}),
  }) as Extract<ServersSpec, { kind: 'sim' }>;

const ctx = () => ({
  baseDir: process.cwd(),
  logsDir: mkdtempSync(join(tmpdir(), 'servelab-router-')),
  env: {},
  seed: 1,
});

describe('a sim topology with `router:` (launchers)', () => {
  it('virtual time: the orchestrator model is served through the router, its replicas are the backends and the KV targets', async () => {
    const s = await launch('sim-virtual', topology({ mode: 'kv-threshold' }), ctx());
    const eps = s.endpoints.get(MODEL)!;
    expect(eps.map((e) => e.label)).toEqual(['virtual:19000']);
    expect(s.kvTargets?.map((t) => t.label)).toEqual(['virtual:1900', 'virtual:1901']);
    expect(s.servers[0]).toMatchObject({ label: 'virtual:19000', flags: { router: 'kv-threshold' } });
    const r = await s.virtual!.drive(s.transport(1).call(chat(eps[0]!, 'p9', 'hello there')));
    expect(r).toMatchObject({ status: 'ok', routerQueueMs: 0 });
    const desc = JSON.parse(JSON.stringify(s.virtual!.describe));
    expect(desc.router).toMatchObject({ mode: 'kv-threshold', serves: 'orchestrator', programsHeld: 1 });
    await s.release!('p9');
    expect(JSON.parse(JSON.stringify(s.virtual!.describe)).router.programsHeld).toBe(0);
    // the router's page stands for its two engines (engine="0" and "1")
    const page = await s.fetchText('http://virtual:19000/metrics', { timeoutMs: 1000 });
    expect(page.ok && page.text.match(/^vllm:kv_cache_usage_perc\{/gm)?.length).toBe(2);
    await s.stop();
  });

  it('virtual time: a router serving a server the topology does not name is a config error naming the key', async () => {
    await expect(
      launch('sim-virtual', topology({ serves: 'orch' }), { ...ctx(), name: 'w1' }),
    ).rejects.toThrow(/servers\.w1\.router\.serves: no topology server named "orch"/);
  });

  it('real time: an HTTP router on a free port in front of the replicas; the queue-ms header reaches the result', async () => {
    const s = await launch('sim-http', topology({ mode: 'tr', intervalMs: 200 }), ctx());
    try {
      const ep = s.endpoints.get(MODEL)![0]!;
      expect(s.servers[0]!.flags).toMatchObject({ router: 'tr' });
      expect(s.kvTargets).toHaveLength(2);
      const t = s.transport(1);
      const r = await t.call(chat(ep, 'p1', 'hello'));
      expect(r.status).toBe('ok');
      expect(r.routerQueueMs).toBe(0);
      const rel = await fetch(`${ep.baseUrl.replace(/\/v1$/, '')}/programs/release`, {
        method: 'POST',
        body: JSON.stringify({ program_id: 'p1' }),
      });
      expect(await rel.json()).toMatchObject({ released: true });
      await t.close?.();
    } finally {
      await s.stop();
    }
  });
});

describe('time breakdown: router queue', () => {
  it('sums the orchestrator calls’ router wait apart (part of their TTFT)', () => {
    const base = {
      v: 1 as const,
      taskId: 't',
      programId: 'p',
      domain: 'd',
      model: 'm',
      endpoint: 'e',
      retries: 0,
    };
    const steps = stepTableFromRecords([
      {
        ...base,
        step: 0,
        kind: 'orchestrator',
        sentMs: 0,
        firstTokenMs: 3000,
        endMs: 4000,
        status: 'ok',
        promptTokens: 1,
        outputTokens: 1,
        routerQueueMs: 2000,
      },
      {
        ...base,
        step: 1,
        kind: 'orchestrator',
        sentMs: 5000,
        firstTokenMs: 5500,
        endMs: 6000,
        status: 'ok',
        promptTokens: 1,
        outputTokens: 1,
      },
    ]);
    const t = timeBreakdown(steps);
    expect(t.orchestratorRouterQueue).toMatchObject({ count: 1, totalS: 2, perStepS: 1 });
    expect(t.orchestratorTtft.totalS).toBe(3.5);
  });
});

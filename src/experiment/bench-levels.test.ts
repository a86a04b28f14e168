/**
 * A load scenario's levels as cells (bench-levels.ts) on the simulator over real HTTP: each
 * level is planned and run by the one cell runner (stages/<k>/cell.json, phase teardown), with
 * the level's own arrivals and prompts, one server kept for every level and stopped at close(),
 * the server timeline (queues, KV, the preemption counter), the client's memory and the GPU
 * window a LevelResult has carried since the scenarios had their own level runner.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretRegistry } from '../config/secrets.js';
import { type Spec, specSchema } from '../config/spec.js';
import type { RequestRecord } from '../loadgen/records.js';
import { BenchRunDir } from '../loadgen/run-dir.js';
import { levelRow } from '../loadgen/scenarios/level.js';
import { runRamp } from '../loadgen/scenarios/ramp.js';
import { createEngine } from '../sim/engine.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { syntheticItems } from '../workload/synthetic.js';
import { benchLevels } from './bench-levels.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
let sim: SimServers | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function spec(server: Record<string, unknown>): Spec {
  return specSchema.parse({
    name: 'bench',
    seed: 0,
    servers: { bench: server },
    arms: [{ name: 'bench', servers: 'bench' }],
    workload: { requests: { model: MODEL, input_len: 64, output_len: 8, min_tokens: true, workers: 0 } },
    concurrency: [1],
    metrics: { intervalMs: 100, server: true },
    preflight: { enabled: false },
  });
}
const simServer = {
  kind: 'sim',
  topology: { servers: [{ name: 'bench', model: MODEL, port: 8000 }] },
  overrides: { freePorts: true },
};
const items = (n: number, output: number, seed = 1) =>
  syntheticItems({
    count: n,
    input: { kind: 'fixed', value: 96 },
    output: { kind: 'fixed', value: output },
    seed,
  });
// biome-ignore lint/suspicious/noExplicitAny: cell.json read as plain JSON
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>;
const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });

function setup(sp: Spec, extra: Partial<Parameters<typeof benchLevels>[0]> = {}) {
  const dir = join(mkdtempSync(join(tmpdir(), 'servelab-levels-')), 'run');
  const secrets = new SecretRegistry();
  const runDir = new BenchRunDir(dir, 'levels', [], new Date(), secrets);
  const levels = benchLevels({
    spec: sp,
    baseDir: dir,
    dir,
    runDir,
    env: process.env,
    log: () => {},
    secrets,
    ...extra,
  });
  return { dir, runDir, levels };
}

describe('a scenario level is a cell of the bench spec', () => {
  it('a ramp: a cell per level (stages/<k>/cell.json at teardown), one server kept for all, stopped at close', async () => {
    const windows: [number, number][] = [];
    const { dir, runDir, levels } = setup(spec(simServer), {
      // a small KV cache: c=8 preempts, so the preemption counter moves within the level
      simOverrides: {
        createEngine: (o, c) => createEngine({ ...o, numGpuBlocksOverride: 40, maxModelLen: 512 }, c),
      },
      sampleClient: () => process.memoryUsage(),
      gpu: async (start, end) => {
        windows.push([start, end]);
        return { source: 'test', gpus: 1 };
      },
    });
    let ramp: Awaited<ReturnType<typeof runRamp>>;
    try {
      ramp = await runRamp(levels.run, {
        levels: [
          { kind: 'closed', concurrency: 1 },
          { kind: 'closed', concurrency: 8 },
        ],
        items: (k) => items(16, 48, k + 1),
        requests: () => 16,
        maxErrorShare: 1,
      });
    } finally {
      await levels.close();
      runDir.close();
    }
    expect(ramp.levels).toHaveLength(2);
    const cells = [0, 1].map((k) => readJson(join(dir, 'stages', String(k), 'cell.json')));
    for (const [k, c] of cells.entries()) {
      expect(c.status).toBe('complete');
      expect(c.phaseReached).toBe('teardown');
      expect(c.concurrency).toBe([1, 8][k]);
      expect(c.requests).toMatchObject({ measured: 16, ok: 16 });
      expect(c.serversKept).toEqual({ launchedBy: 'bench/c1/r1', reused: k > 0 });
    }
    // one server for both levels, stopped once the series closed
    const port = cells[0]!.servers[0].port as number;
    expect(cells[1]!.servers[0].port).toBe(port);
    expect(await refused(port)).toBe(true);
    // every record in the one requests.jsonl, each level its own stage
    const recs = readFileSync(join(dir, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RequestRecord);
    expect(recs.filter((r) => r.stage === 0)).toHaveLength(16);
    expect(recs.filter((r) => r.stage === 1)).toHaveLength(16);
    // the timeline the scenarios read: queues and KV per tick, the preemption counter
    const c8 = ramp.levels[1]!;
    expect(c8.meanWaiting).toBeDefined();
    expect(c8.meanKvUsage!).toBeGreaterThan(0);
    expect(c8.preemptions!).toBeGreaterThan(0);
    expect(c8.gpu).toEqual({ source: 'test', gpus: 1 });
    // the GPU window is the stage's, in wall-clock ms
    expect(windows).toHaveLength(2);
    for (const [s, e] of windows) {
      expect(e).toBeGreaterThan(s);
      expect(Math.abs(s - Date.now())).toBeLessThan(60_000);
    }
  }, 60_000);

  it("a level's own prompts and count: records carry the level's output lengths, not the spec's", async () => {
    const { dir, runDir, levels } = setup(spec(simServer), { sampleClient: () => process.memoryUsage() });
    try {
      await levels.start();
      const a = await levels.run({
        arrivals: { kind: 'closed', concurrency: 2 },
        items: items(6, 5),
        numPrompts: 6,
        label: 'prompt 96 x output 5',
      });
      const b = await levels.run({
        arrivals: { kind: 'poisson', ratePerSec: 50, maxConcurrency: 3 },
        items: items(4, 12),
        numPrompts: 4,
        label: 'prompt 96 x output 12',
      });
      expect(a.stage.records.map((r) => r.outputTokens)).toEqual(Array(6).fill(5));
      expect(b.stage.records.map((r) => r.outputTokens)).toEqual(Array(4).fill(12));
      expect(b.stage.spec).toEqual({ kind: 'poisson', ratePerSec: 50, maxConcurrency: 3 });
      expect(levelRow(a).label).toBe('prompt 96 x output 5');
      // the client's memory and the server's gauges on the stage's clock, inside its window
      expect(a.client.length).toBeGreaterThan(0);
      expect(a.server.some((p) => p.waiting !== undefined && p.running !== undefined)).toBe(true);
      const t0 = a.stage.outcome.startMs;
      expect(Math.abs(a.server[0]!.tMs - t0)).toBeLessThan(1000);
      expect(Math.abs(a.client[0]!.tMs - t0)).toBeLessThan(1000);
    } finally {
      await levels.close();
      runDir.close();
    }
    const cell = readJson(join(dir, 'stages', '1', 'cell.json'));
    expect(cell.taskSet.name).toBe('prompt 96 x output 12: 4 prompts');
    // the series started the server before its first level
    expect(cell.serversKept).toEqual({ launchedBy: 'series', reused: true });
    expect(readJson(join(dir, 'stages', '0', 'cell.json')).serversKept.reused).toBe(true);
  }, 60_000);

  it('kind external: nothing is started or stopped; the server answers after the series closed', async () => {
    sim = await startSimServers({ servers: [{ model: MODEL, port: 0 }] });
    const url = sim.endpoints[0]!.url;
    const { dir, runDir, levels } = setup(spec({ kind: 'external', url: `${url}/v1`, model: MODEL }));
    try {
      const r = await levels.run({
        arrivals: { kind: 'closed', concurrency: 2 },
        items: items(4, 4),
        numPrompts: 4,
        label: 'c=2',
      });
      expect(r.stage.summary.counts.ok).toBe(4);
    } finally {
      await levels.close();
      runDir.close();
    }
    const cell = readJson(join(dir, 'stages', '0', 'cell.json'));
    expect(cell.phaseReached).toBe('teardown');
    expect(cell.servers[0].url).toBe(url);
    const res = await request(`${url}/v1/models`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  }, 60_000);
});

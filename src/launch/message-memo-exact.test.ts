/**
 * The per-message memos of the virtual-time path (`src/memo.ts`: the simulator tokenizer's ids
 * per message, the agent's prefix segments per system message; the replay's prompt estimates
 * carried from call to call) change no simulated number. One small experiment runs through
 * `servelab simulate` with the memos and without them (every call re-encoding its whole
 * conversation, as before), and every record must be the same: each call's prompt tokens, cached
 * (prefix-hit) tokens and times in steps.jsonl, tasks.jsonl, each engine's counters (prefix
 * hits, preemptions, pins) and the tasks/min in cell.json.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { setMessageMemo } from '../memo.js';

const EXAMPLE = resolve(__dirname, '../../examples/w2-sim-three-arms.yaml');
const ORCH = '/ckpt/Nemotron-Orchestrator-8B';

const lines = (p: string) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

/** the W2 example, shortened: its own topologies, 3 arms, 16 tasks at C=8 */
function w2Spec(): unknown {
  const spec = parse(readFileSync(EXAMPLE, 'utf8'));
  for (const s of Object.values(spec.servers) as { topology: unknown }[])
    if (typeof s.topology === 'string') s.topology = resolve(__dirname, '../../examples', s.topology);
  spec.workload.generator.count = 16;
  spec.concurrency = [8];
  spec.arms = spec.arms.filter((a: { name: string }) => ['baseline', 'router', 'kv-ttl'].includes(a.name));
  return spec;
}

/** the live (synthetic) agent: tool schemas, experts, user turns, history trimming */
function liveSpec(): unknown {
  return {
    name: 'memo-live',
    seed: 7,
    servers: {
      sim: {
        kind: 'sim',
        topology: {
          servers: [
            { model: ORCH, persona: 'orchestrator', port: 1900, gpu: 'H100-SXM-80GB' },
            { name: 'expert-1', model: 'openai/gpt-oss-20b', persona: 'gpt-oss', port: 1910 },
          ],
        },
      },
    },
    arms: [{ name: 'a', servers: 'sim' }],
    workload: { generator: { count: 10, mode: 'live', systemPromptTokens: 300 } },
    agent: { orchestrator: ORCH, maxTokens: 400, expertMaxTokens: 200, historyTrimTokens: 3000 },
    concurrency: [4],
    limits: { maxSteps: 30, maxTaskTimeS: 600, callTimeoutS: 120 },
  };
}

/** every record file and cell.json of a run directory, by path */
function records(runDir: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'steps.jsonl' || e.name === 'tasks.jsonl')
        out.set(p.slice(runDir.length), lines(p));
      else if (e.name === 'cell.json') {
        const c = readJson(p);
        out.set(p.slice(runDir.length), { counts: c.counts, simulation: c.simulation });
      }
    }
  };
  walk(runDir);
  return out;
}

/** epoch times (ms) in the records: the virtual clock starts at the wall clock of its launch */
const isEpochMs = (k: string, x: unknown): x is number => /Ms$/.test(k) && typeof x === 'number' && x > 1e12;

function minEpochMs(v: unknown, min = Number.POSITIVE_INFINITY): number {
  if (Array.isArray(v)) return v.reduce((m: number, x) => minEpochMs(x, m), min);
  if (!v || typeof v !== 'object') return min;
  let out = min;
  for (const [k, x] of Object.entries(v)) out = isEpochMs(k, x) ? Math.min(out, x) : minEpochMs(x, out);
  return out;
}

/**
 * What differs between any two runs and is no simulated number: wall-clock stamps dropped,
 * epoch times made relative to the run's first one (to the µs: the two runs' clocks start at
 * different epochs, so the last bits of a sum can differ).
 */
function normalize(v: unknown, origin: number): unknown {
  if (Array.isArray(v)) return v.map((x) => normalize(x, origin));
  if (!v || typeof v !== 'object') return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (/wall|startedAt|endedAt|^created$/i.test(k)) continue;
    o[k] = isEpochMs(k, x) ? Math.round((x - origin) * 1000) / 1000 : normalize(x, origin);
  }
  return o;
}

async function simulate(spec: unknown, memo: boolean): Promise<Map<string, unknown>> {
  setMessageMemo(memo);
  const dir = mkdtempSync(join(tmpdir(), `servelab-memo-${memo ? 'on' : 'off'}-`));
  writeFileSync(join(dir, 's.yaml'), JSON.stringify(spec));
  const { io, err } = captureIo({ cwd: dir });
  expect(await runMain(['simulate', 's.yaml'], io), err.join('')).toBe(0);
  const runs = readdirSync(join(dir, 'runs'));
  expect(runs).toHaveLength(1);
  return records(join(dir, 'runs', runs[0]!));
}

/** each cell (arm/cN/rK) has its own virtual clock: its records' first time is its origin */
function cellOrigin(recs: Map<string, unknown>, path: string): number {
  const cell = path.slice(0, path.lastIndexOf('/'));
  return minEpochMs([...recs].filter(([p]) => p.startsWith(`${cell}/`)).map(([, v]) => v));
}

function expectSame(on: Map<string, unknown>, off: Map<string, unknown>): void {
  expect([...on.keys()].sort()).toEqual([...off.keys()].sort());
  for (const [path, v] of on)
    expect(normalize(v, cellOrigin(on, path)), path).toEqual(normalize(off.get(path), cellOrigin(off, path)));
}

afterEach(() => setMessageMemo(true));

describe('per-message memos in virtual time', () => {
  it('the W2 example (3 arms, replayed tau2 plans): identical steps.jsonl tokens, prefix hits, pins and tasks/min with and without the memos', async () => {
    const on = await simulate(w2Spec(), true);
    const off = await simulate(w2Spec(), false);
    expectSame(on, off);
    // the runs did real work: prompts in the thousands of tokens, prefix hits, KV-TTL pins
    const steps = on.get('/baseline/c8/r1/steps.jsonl') as { kind: string; promptTokens?: number }[];
    const orch = steps.filter((s) => s.kind === 'orchestrator');
    expect(orch.length).toBeGreaterThan(100);
    expect(Math.max(...orch.map((s) => s.promptTokens ?? 0))).toBeGreaterThan(5000);
    const cell = on.get('/kv-ttl/c8/r1/cell.json') as {
      counts: { tasksPerMin: number };
      simulation: { counters: { label: string; policy?: { pinsCreated: number } }[] };
    };
    expect(cell.counts.tasksPerMin).toBeGreaterThan(0);
    const ttl = cell.simulation.counters.find((c) => c.label === 'virtual:1900');
    expect(ttl?.policy?.pinsCreated).toBeGreaterThan(0);
  }, 300_000);

  it('the live agent (tools offered, experts, history trimming): identical records with and without the memos', async () => {
    const on = await simulate(liveSpec(), true);
    const off = await simulate(liveSpec(), false);
    expectSame(on, off);
    const steps = on.get('/a/c4/r1/steps.jsonl') as { kind: string }[];
    expect(steps.filter((s) => s.kind === 'expert').length).toBeGreaterThan(0);
  }, 300_000);
});

/**
 * End to end on the simulator over real HTTP (127.0.0.1, free ports): the records agree with
 * what the servers served, replay reproduces a recorded call structure, a context-length
 * failure ends only its task, and Ctrl-C leaves a readable, interrupted run directory.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepRecord, TaskRecord } from '../agent/records.js';
import { loadRun } from '../analysis/load.js';
import { createHttpTransport } from '../client/index.js';
import { type Spec, specSchema } from '../config/spec.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { runExperiment } from './run-experiment.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
let sim: SimServers | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function startW1(opts: { orchMaxModelLen?: number } = {}): Promise<SimServers> {
  sim = await startSimServers({
    seed: 5,
    servers: [
      {
        model: ORCH,
        persona: 'orchestrator',
        port: 0,
        stepTimeMs: 1,
        ...(opts.orchMaxModelLen ? { maxModelLen: opts.orchMaxModelLen } : {}),
      },
      { model: 'openai/gpt-oss-20b', persona: 'gpt-oss', dp: 2, port: 0, stepTimeMs: 0.5 },
      { model: 'Qwen/Qwen3-32B-FP8', persona: 'qwen3', port: 0, stepTimeMs: 0.5 },
    ],
  });
  return sim;
}

function modelConfig(s: SimServers): Record<string, unknown> {
  const cfg: Record<string, unknown> = {};
  for (const e of s.endpoints) {
    const list = (cfg[e.model] as unknown[] | undefined) ?? [];
    list.push({ ip_addr: '127.0.0.1', port: String(e.port) });
    cfg[e.model] = list;
  }
  cfg.oss_expert_mapping = { 'expert-1': 'openai/gpt-oss-20b', 'expert-2': 'Qwen/Qwen3-32B-FP8' };
  return cfg;
}

function spec(s: SimServers, over: Record<string, unknown> = {}): Spec {
  return specSchema.parse({
    name: 'e2e',
    seed: 3,
    servers: { sim: { kind: 'external', endpoints: modelConfig(s) } },
    arms: [{ name: 'a', servers: 'sim', replayOutput: 'directive' }],
    workload: {
      generator: {
        count: 6,
        systemPromptTokens: 100,
        overrides: Object.fromEntries(
          ['retail', 'telecom', 'airline'].map((d) => [
            d,
            { userTurns: { min: 0, max: 1 }, toolResultTokens: { median: 60, sigma: 0.3 } },
          ]),
        ),
      },
    },
    agent: { orchestrator: ORCH, timeScale: 0.01, expertMaxTokens: 200 },
    concurrency: [3],
    limits: {
      maxSteps: 40,
      maxTaskTimeS: 30,
      callTimeoutS: 10,
      watchdogS: 5,
      graceS: 0.2,
      retries: { maxAttempts: 2, baseMs: 10, capMs: 20 },
    },
    metrics: { intervalMs: 200 },
    // no smoke completions, so the servers' request counters hold the agent's calls only
    preflight: { smoke: false, waitS: 5 },
    ...over,
  });
}

async function run(
  sp: Spec,
  extra: { replay?: string; signal?: AbortSignal; onLog?: (line: string) => void } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-e2e-'));
  const lines: string[] = [];
  const result = await runExperiment({
    loaded: { spec: sp, baseDir: dir, file: 'inline' },
    cwd: dir,
    env: {},
    log: (l) => {
      lines.push(l);
      extra.onLog?.(l);
    },
    makeTransport: () => createHttpTransport(),
    progressIntervalMs: 10_000,
    ...(extra.replay ? { replay: extra.replay } : {}),
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
  const cellDir = join(result.runDir, result.cells[0]?.id ?? '');
  const jsonl = <T>(f: string): T[] =>
    readFileSync(join(cellDir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as T);
  return {
    result,
    cellDir,
    steps: jsonl<StepRecord>('steps.jsonl'),
    tasks: jsonl<TaskRecord>('tasks.jsonl'),
    lines,
  };
}

async function served(s: SimServers, model: string): Promise<{ ok: number; programIdCalls: number }> {
  let ok = 0;
  let programIdCalls = 0;
  for (const e of s.endpoints.filter((x) => x.model === model)) {
    const page = parsePrometheusText(await (await fetch(`${e.url}/metrics`)).text());
    if (!page.ok) throw new Error('bad /metrics page');
    for (const x of page.page.samples) {
      if (x.name === 'vllm:request_success_total') ok += x.value;
      if (x.name === 'servelab_sim_extra_fields_total' && x.labels.field === 'program_id')
        programIdCalls += x.value;
    }
  }
  return { ok, programIdCalls };
}

describe('agent runs on the simulator over HTTP', () => {
  it('records exactly the calls the servers served, and a complete cell', async () => {
    const s = await startW1();
    const r = await run(spec(s));
    expect(r.result.cells[0]?.status).toBe('complete');
    expect(r.tasks).toHaveLength(6);
    expect(r.tasks.every((t) => t.status === 'ok')).toBe(true);
    const orch = r.steps.filter((x) => x.kind === 'orchestrator');
    const experts = r.steps.filter((x) => x.kind === 'expert');
    const orchServed = await served(s, ORCH);
    expect(orch.length).toBe(orchServed.ok);
    expect(orch.length).toBe(orchServed.programIdCalls);
    expect(r.tasks.reduce((a, t) => a + t.steps, 0)).toBe(orch.length);
    const expertServed =
      (await served(s, 'openai/gpt-oss-20b')).ok + (await served(s, 'Qwen/Qwen3-32B-FP8')).ok;
    expect(experts.length).toBe(expertServed);
    expect(r.tasks.reduce((a, t) => a + t.expertCalls, 0)).toBe(experts.length);
    expect(experts.length).toBeGreaterThan(0);
    expect(orch.length).toBeGreaterThan(r.tasks.length);
    expect(orch.every((x) => x.firstTokenMs !== undefined && x.next !== undefined)).toBe(true);
    const cell = JSON.parse(readFileSync(join(r.cellDir, 'cell.json'), 'utf8'));
    expect(cell.status).toBe('complete');
    expect(cell.servers[0].version).toBe('0.11.0');
    expect(cell.programFields).toEqual([
      'program_id',
      'job_id',
      'is_last_step',
      'this_func_call',
      'last_func_call',
    ]);
    expect(readFileSync(join(r.cellDir, 'kv_timeseries.csv'), 'utf8')).toMatch(
      /^ts_iso,ts_unix,port,metric,value\n/,
    );
  }, 20_000);

  it('replays a recorded trace with the same call structure', async () => {
    const s = await startW1();
    const live = await run(spec(s));
    await s.close();
    sim = undefined;
    const s2 = await startW1();
    const rep = await run(spec(s2), { replay: join(live.cellDir, 'steps.jsonl') });
    expect(rep.result.cells[0]?.status).toBe('complete');
    const shape = (steps: StepRecord[]) => {
      const by = new Map<string, string[]>();
      for (const x of [...steps].sort((a, b) => a.step - b.step || (a.kind === 'orchestrator' ? 1 : -1))) {
        const list = by.get(x.taskId) ?? [];
        list.push(
          `${x.step}:${x.kind}:${x.expert ?? ''}:${x.outputTokens}:${x.next?.type ?? ''}:${x.next?.name ?? ''}`,
        );
        by.set(x.taskId, list);
      }
      return Object.fromEntries([...by].sort());
    };
    expect(live.steps.some((x) => x.kind === 'expert')).toBe(true);
    expect(live.steps.some((x) => x.next?.type === 'tool')).toBe(true);
    expect(shape(rep.steps)).toEqual(shape(live.steps));
    // prompt sizes follow the recorded ones (the first call of a task calibrates the template overhead)
    const key = (x: StepRecord) => `${x.taskId}/${x.step}/${x.kind}`;
    const recorded = new Map(
      live.steps.filter((x) => x.kind === 'orchestrator').map((x) => [key(x), x.promptTokens]),
    );
    for (const x of rep.steps.filter((y) => y.kind === 'orchestrator')) {
      const want = recorded.get(key(x)) as number;
      expect(Math.abs(x.promptTokens - want) / want).toBeLessThan(0.1);
    }
  }, 20_000);

  it('ends a task that exceeds the context length as failed, without retrying, and goes on', async () => {
    const s = await startW1({ orchMaxModelLen: 2000 });
    // with the full preflight (smoke chat + tool call) of src/preflight
    const sp = spec(s, { preflight: { smoke: true, waitS: 5 } });
    // vLLM rejects prompt + max_tokens > max_model_len: keep max_tokens small so prompt growth decides
    sp.agent!.maxTokens = 200;
    const r = await run(sp);
    const cell = JSON.parse(readFileSync(join(r.cellDir, 'cell.json'), 'utf8'));
    expect(cell.preflight).toHaveLength(4);
    expect(r.result.cells[0]?.status).toBe('complete');
    expect(r.tasks).toHaveLength(6);
    const failed = r.tasks.filter((t) => t.reason === 'context_length');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((t) => t.status === 'failed')).toBe(true);
    expect(r.tasks.some((t) => t.status === 'ok')).toBe(true);
    const cl = r.steps.filter((x) => x.errorKind === 'context_length');
    expect(cl.length).toBe(failed.length);
    expect(cl.every((x) => x.retries === 0)).toBe(true);
  }, 20_000);

  it('Ctrl-C leaves an interrupted cell whose records an analysis can read', async () => {
    const s = await startW1();
    const ac = new AbortController();
    const sp = spec(s, {});
    sp.workload.generator = {
      ...(sp.workload.generator as NonNullable<Spec['workload']['generator']>),
      count: 30,
    };
    // Ctrl-C 400 ms after dispatch starts (not after a fixed time: server start varies with load)
    const onLog = (l: string) => {
      if (/ tasks at C=/.test(l)) setTimeout(() => ac.abort(), 400);
    };
    const r = await run(sp, { signal: ac.signal, onLog });
    expect(r.result.interrupted).toBe(true);
    const cell = JSON.parse(readFileSync(join(r.cellDir, 'cell.json'), 'utf8'));
    expect(cell.status).toBe('interrupted');
    expect(r.tasks.length).toBeLessThan(30);
    expect(r.tasks.some((t) => t.status === 'incomplete' && t.reason === 'interrupted')).toBe(true);
    const loaded = await loadRun(r.result.runDir);
    expect(loaded.kind).toBe('agent');
  }, 20_000);
});

describe('resume', () => {
  it('skips complete cells and re-runs the first one not complete, keeping the old attempt', async () => {
    const s = await startW1();
    const sp = spec(s, { concurrency: [2, 3] });
    const first = await run(sp);
    expect(first.result.cells.map((c) => c.status)).toEqual(['complete', 'complete']);
    const c3 = join(first.result.runDir, 'a/c3/r1');
    const meta = JSON.parse(readFileSync(join(c3, 'cell.json'), 'utf8'));
    writeFileSync(join(c3, 'cell.json'), JSON.stringify({ ...meta, status: 'interrupted' }));
    const c2steps = readFileSync(join(first.result.runDir, 'a/c2/r1/steps.jsonl'), 'utf8');
    const again = await runExperiment({
      loaded: { spec: sp, baseDir: first.result.runDir, file: 'inline' },
      cwd: first.result.runDir,
      env: {},
      log: () => {},
      makeTransport: () => createHttpTransport(),
      resumeDir: first.result.runDir,
    });
    expect(again.runDir).toBe(first.result.runDir);
    expect(again.cells.map((c) => c.status)).toEqual(['complete', 'complete']);
    expect(readFileSync(join(first.result.runDir, 'a/c2/r1/steps.jsonl'), 'utf8')).toBe(c2steps);
    expect(readdirSync(join(first.result.runDir, 'a/c3')).some((d) => d.startsWith('r1.attempt-'))).toBe(
      true,
    );
    expect(JSON.parse(readFileSync(join(c3, 'cell.json'), 'utf8')).status).toBe('complete');
    // the complete cell's counts come back from its cell.json, the re-run one's from the driver
    expect(again.cells.map((c) => c.counts?.tasks.total)).toEqual([6, 6]);
  }, 20_000);
});

describe('more program shapes', () => {
  it('plays user turns with a model endpoint, counted apart from steps', async () => {
    const s = await startW1();
    const sp = spec(s, {});
    sp.agent!.user = { mode: 'model', model: 'Qwen/Qwen3-32B-FP8' };
    sp.workload.generator = {
      ...(sp.workload.generator as NonNullable<Spec['workload']['generator']>),
      count: 3,
      overrides: {
        retail: { userTurns: { min: 1, max: 1 } },
        telecom: { userTurns: { min: 1, max: 1 } },
        airline: { userTurns: { min: 1, max: 1 } },
      },
    };
    const r = await run(sp);
    const users = r.steps.filter((x) => x.kind === 'user');
    expect(users).toHaveLength(3);
    expect(r.tasks.reduce((a, t) => a + t.userCalls, 0)).toBe(3);
    expect(r.tasks.reduce((a, t) => a + t.steps, 0)).toBe(
      r.steps.filter((x) => x.kind === 'orchestrator').length,
    );
  }, 20_000);

  it('replays with max_tokens = min_tokens + ignore_eos (how real vLLM is driven) to the same output lengths', async () => {
    const s = await startW1();
    const live = await run(spec(s));
    const sp = spec(s);
    sp.arms = sp.arms.map((a) => ({ ...a, replayOutput: 'min_tokens' as const }));
    const rep = await run(sp, { replay: join(live.cellDir, 'steps.jsonl') });
    const outs = (steps: StepRecord[]) =>
      steps
        .filter((x) => x.kind === 'orchestrator')
        .map((x) => `${x.taskId}/${x.step}:${x.outputTokens}:${x.next?.type}`)
        .sort();
    expect(outs(rep.steps)).toEqual(outs(live.steps));
  }, 20_000);
});

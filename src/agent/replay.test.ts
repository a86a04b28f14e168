/**
 * Replay keeps the prefix structure of what it replays: a live cell and the replay of its
 * steps.jsonl, each on a fresh simulated orchestrator and expert (in-process, virtual time),
 * agree on prefix-cache hits and tasks/min. Tool gaps are zero (timeScale 0), so the virtual
 * makespan is the servers' work alone and the comparison does not depend on the host's speed.
 */
import { describe, expect, it } from 'vitest';
import { driveCell, type WorkItem } from './driver.js';
import type { StepRecord, TaskRecord } from './records.js';
import { generateTasks } from './taskset.js';
import { testProgramContext } from './testing/program-context.js';
import { simulatedModels } from './testing/sim-models.js';
import { plansFromMooncake, plansFromSteps } from './trace.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
const EXPERT = 'openai/gpt-oss-20b';

interface CellRun {
  steps: StepRecord[];
  tasks: TaskRecord[];
  /** cached / prompt tokens over the orchestrator's ok calls */
  hitFrac: number;
  tasksPerMin: number;
}

async function runCell(
  items: WorkItem[],
  opts: { concurrency: number; kvBlocks: number; historyTrimTokens?: number },
): Promise<CellRun> {
  const { sim, pools } = simulatedModels([
    {
      model: ORCH,
      persona: 'orchestrator',
      gpu: 'RTX-5090-32GB',
      engine: { maxModelLen: 16_384, ...(opts.kvBlocks ? { numGpuBlocksOverride: opts.kvBlocks } : {}) },
    },
    { model: EXPERT, persona: 'gpt-oss', gpu: 'H100-SXM-80GB', engine: { maxModelLen: 16_384 } },
  ]);
  const steps: StepRecord[] = [];
  const tasks: TaskRecord[] = [];
  await sim.drive(
    driveCell({
      items,
      concurrency: opts.concurrency,
      graceMs: 1000,
      watchdogMs: 600_000,
      onTask: (t) => tasks.push(t),
      ctx: testProgramContext(sim, {
        pools,
        config: {
          orchestrator: ORCH,
          experts: { 'expert-1': EXPERT },
          maxTokens: 2000,
          expertMaxTokens: 300,
          systemPromptTokens: 400,
          timeScale: 0,
          programFields: ['program_id'],
          ...(opts.historyTrimTokens ? { historyTrimTokens: opts.historyTrimTokens } : {}),
        },
        limits: { maxSteps: 200, maxTaskTimeMs: 600_000, callTimeoutMs: 600_000 },
        cellTag: 'c',
        now: () => sim.now(),
        onStep: (r) => steps.push(r),
      }),
    }),
  );
  const orch = steps.filter((s) => s.kind === 'orchestrator' && s.status === 'ok');
  const prompt = orch.reduce((a, s) => a + s.promptTokens, 0);
  const cached = orch.reduce((a, s) => a + (s.cachedTokens ?? 0), 0);
  const ok = tasks.filter((t) => t.status === 'ok');
  const makespanMs = Math.max(...tasks.map((t) => t.endMs)) - Math.min(...tasks.map((t) => t.startMs));
  return { steps, tasks, hitFrac: cached / prompt, tasksPerMin: ok.length / (makespanMs / 60_000) };
}

const liveItems = (count: number): WorkItem[] =>
  generateTasks({
    seed: 7,
    scale: 1,
    count,
    overrides: Object.fromEntries(
      ['retail', 'telecom', 'airline'].map((d) => [d, { userTurns: { min: 0, max: 1 } }]),
    ),
  }).map((task) => ({ kind: 'live', task }));

describe('replay keeps the prefix structure', () => {
  for (const c of [
    { name: 'whole history, roomy KV cache', concurrency: 8, kvBlocks: 20_000 },
    {
      name: 'history trimmed at 2500 tokens, C=16 on 2000 KV blocks',
      concurrency: 16,
      kvBlocks: 2000,
      trim: 2500,
    },
  ]) {
    it(`live and replay of the same trace agree on prefix hits and tasks/min (${c.name})`, async () => {
      const opts = {
        concurrency: c.concurrency,
        kvBlocks: c.kvBlocks,
        ...(c.trim ? { historyTrimTokens: c.trim } : {}),
      };
      const live = await runCell(liveItems(24), opts);
      expect(live.tasks.every((t) => t.status === 'ok')).toBe(true);
      // the recorded structure: every step after the first continues an earlier prompt; trimming shows
      const orch = live.steps.filter((x) => x.kind === 'orchestrator');
      expect(orch.every((x) => (x.step === 0) === (x.history === undefined))).toBe(true);
      expect(orch.some((x) => x.history?.answer === false)).toBe(c.trim !== undefined);
      expect(orch[0]?.prefix?.map((g) => g.id.split(':')[0])).toEqual(['tools', 'system']);
      const plans = plansFromSteps(live.steps);
      const rep = await runCell(
        plans.map((plan) => ({ kind: 'replay', plan })),
        opts,
      );
      expect(rep.tasks.every((t) => t.status === 'ok')).toBe(true);
      expect(Math.abs(rep.hitFrac - live.hitFrac)).toBeLessThan(0.03);
      expect(Math.abs(rep.tasksPerMin / live.tasksPerMin - 1)).toBeLessThan(0.05);
    }, 60_000);
  }
});

describe('mooncake traces keep their shared blocks', () => {
  it('lines that share hash_ids share those 512-token blocks in the prefix cache', async () => {
    const plans = plansFromMooncake([
      { timestamp: 0, input_length: 1500, output_length: 5, hash_ids: [0, 1, 2] },
      { timestamp: 10, input_length: 1400, output_length: 5, hash_ids: [0, 1, 3] },
      { timestamp: 20, input_length: 1000, output_length: 5, hash_ids: [4, 5] },
    ]);
    expect(plans[1]?.steps[0]?.blocks).toEqual([
      { id: 'block:0', tokens: 512 },
      { id: 'block:1', tokens: 512 },
      { id: 'block:3', tokens: 376 },
    ]);
    const r = await runCell(
      plans.map((plan) => ({ kind: 'replay', plan })),
      { concurrency: 1, kvBlocks: 20_000 },
    );
    const cached = r.steps.map((x) => x.cachedTokens ?? 0);
    const prompts = r.steps.map((x) => x.promptTokens);
    // the 2 shared blocks (1024 tokens, behind the template's 2-token user header) and nothing more
    expect(cached[1]).toBeGreaterThanOrEqual(1024 - 16);
    expect(cached[1]).toBeLessThan(1024 + 16);
    expect(cached[2]).toBe(0);
    expect(prompts.map((p, i) => Math.abs(p - [1500, 1400, 1000][i]!))).toSatisfy((d: number[]) =>
      d.every((x) => x <= 8),
    );
  });
});

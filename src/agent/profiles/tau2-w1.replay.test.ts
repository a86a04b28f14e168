/**
 * The profile's synthetic plans, replayed by the real driver against simulated engines
 * (in-process, virtual time): every orchestrator prompt has the plan's size as the server counts
 * it, trimmed prompts stay at ~23k tokens, and the records give ~2 tau2 role transitions per step.
 */
import { describe, expect, it } from 'vitest';
import { roleTransitionsIn } from '../../analysis/role-transitions.js';
import { stepTableFromRecords } from '../../analysis/step-table.js';
import { driveCell } from '../driver.js';
import type { StepRecord, TaskRecord } from '../records.js';
import { planFromTask } from '../synthetic.js';
import { generateTasks } from '../taskset.js';
import { testProgramContext } from '../testing/program-context.js';
import { simulatedModels } from '../testing/sim-models.js';
import { TAU2_W1 } from './tau2-w1.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
const EXPERTS = { 'expert-1': 'openai/gpt-oss-20b', 'expert-3': 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8' };

describe('tau2-w1 plans replayed on simulated engines', () => {
  it('sends the planned prompt sizes (trimmed at ~23k), and records ~2 role transitions per step', async () => {
    // the three longest telecom tasks of seed 2 (they reach the trim), and one airline task
    const all = generateTasks({ seed: 2, scale: 1, overrides: {}, profile: 'tau2-w1' });
    const telecom = all.filter((t) => t.domain === 'telecom').sort((a, b) => b.plannedSteps - a.plannedSteps);
    const picked = [...telecom.slice(0, 3), all.find((t) => t.domain === 'airline')!];
    const plans = picked.map((t) => planFromTask(t, Object.keys(EXPERTS), 600, EXPERTS));
    expect(plans.some((p) => p.steps.some((s) => s.promptTokens === TAU2_W1.historyTrimTokens))).toBe(true);

    const engine = { maxModelLen: 65_536, numGpuBlocksOverride: 12_000 };
    const { sim, pools } = simulatedModels([
      { model: ORCH, persona: 'orchestrator', gpu: 'RTX-5090-32GB', engine },
      { model: EXPERTS['expert-1'], persona: 'gpt-oss', gpu: 'H100-SXM-80GB', engine },
      { model: EXPERTS['expert-3'], persona: 'qwen3', gpu: 'H100-SXM-80GB', engine },
    ]);
    const steps: StepRecord[] = [];
    const tasks: TaskRecord[] = [];
    await sim.drive(
      driveCell({
        items: plans.map((plan) => ({ kind: 'replay', plan })),
        concurrency: 4,
        graceMs: 1000,
        watchdogMs: 600_000,
        onTask: (t) => tasks.push(t),
        ctx: testProgramContext(sim, {
          pools,
          config: {
            orchestrator: ORCH,
            experts: EXPERTS,
            maxTokens: TAU2_W1.orchestratorMaxTokens,
            expertMaxTokens: TAU2_W1.expertMaxTokens,
            systemPromptTokens: 600,
            timeScale: 0,
            programFields: ['program_id'],
          },
          limits: { maxSteps: 200, maxTaskTimeMs: 3_600_000, callTimeoutMs: 600_000 },
          cellTag: 'c',
          now: () => sim.now(),
          onStep: (r) => steps.push(r),
        }),
      }),
    );
    expect(tasks.map((t) => t.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    const orch = steps.filter((s) => s.kind === 'orchestrator');
    expect(orch.every((s) => s.status === 'ok')).toBe(true);
    for (const plan of plans) {
      const got = orch.filter((s) => s.taskId === plan.taskId).sort((a, b) => a.step - b.step);
      expect(got.map((s) => s.outputTokens)).toEqual(plan.steps.map((s) => s.outputTokens));
      got.forEach((s, i) => {
        const want = plan.steps[i]!.promptTokens;
        const at = `${plan.taskId} step ${i}: ${s.promptTokens} vs ${want}`;
        if (want < TAU2_W1.historyTrimTokens)
          expect(Math.abs(s.promptTokens - want), at).toBeLessThan(want * 0.02 + 20);
        else {
          // the middle trim drops whole messages (an expert answer can be ~1k tokens): about 23k
          expect(s.promptTokens, at).toBeLessThan(want * 1.02);
          expect(s.promptTokens, at).toBeGreaterThan(want * 0.9);
        }
      });
    }
    // tau2's count: the opening, each reply, the turn after each reply but the last
    const t = stepTableFromRecords(steps);
    const want = plans.reduce((a, p) => a + 1 + 2 * p.steps.length - 1, 0);
    expect(roleTransitionsIn(t, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)).toBe(want);
  }, 60_000);
});

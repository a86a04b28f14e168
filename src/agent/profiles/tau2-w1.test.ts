import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile, parseSpecText } from '../../config/load.js';
import { type DistSpec, WORKLOAD_PROFILE_NAMES } from '../../config/spec.js';
import { ServelabError } from '../../errors.js';
import { buildWorkload } from '../../experiment/workload.js';
import { planFromTask } from '../synthetic.js';
import { type AgentTask, generateTasks } from '../taskset.js';
import type { PlannedStep, TaskPlan } from '../trace.js';
import { expertKey, WORKLOAD_PROFILES, workloadProfile } from './index.js';
import { TAU2_W1, TAU2_W1_SOURCES } from './tau2-w1.js';

const EXPERTS = ['expert-1', 'expert-2', 'expert-3'];
/** the mean of a lognormal (median, sigma) */
const mean = (d: DistSpec) => d.median * Math.exp((d.sigma * d.sigma) / 2);
const avg = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const SEEDS = Array.from({ length: 12 }, (_, i) => i);

function draw(): { tasks: AgentTask[]; plans: TaskPlan[] } {
  const tasks = SEEDS.flatMap((seed) => generateTasks({ seed, scale: 1, overrides: {}, profile: 'tau2-w1' }));
  return { tasks, plans: tasks.map((t) => planFromTask(t, EXPERTS, 600)) };
}
const { tasks, plans } = draw();
const steps = plans.flatMap((p) => p.steps);
const within = (got: number, want: number, rel: number) =>
  expect(Math.abs(got - want) / want, `got ${got}, want ${want} +- ${rel * 100}%`).toBeLessThan(rel);

describe('tau2-w1 profile: parameters and sources', () => {
  it('names every parameter source (a fact, a derivation, or "fitted:")', () => {
    const fields = new Set<string>(
      Object.keys(TAU2_W1).filter((k) => k !== 'name' && k !== 'summary' && k !== 'domains'),
    );
    for (const d of Object.values(TAU2_W1.domains)) for (const k of Object.keys(d)) fields.add(k);
    expect([...fields].sort()).toEqual(Object.keys(TAU2_W1_SOURCES).sort());
    for (const s of Object.values(TAU2_W1_SOURCES)) expect(s.length).toBeGreaterThan(20);
  });

  it('is registered under the name the spec accepts', () => {
    expect(Object.keys(WORKLOAD_PROFILES).sort()).toEqual([...WORKLOAD_PROFILE_NAMES].sort());
    expect(workloadProfile('tau2-w1')).toBe(TAU2_W1);
    expect(() => workloadProfile('tau2-w9')).toThrow(ServelabError);
  });

  it('maps experts to their models by model id, else by W1 name', () => {
    expect(expertKey(TAU2_W1, 'x', 'openai/gpt-oss-20b')).toBe('gpt-oss-20b');
    expect(expertKey(TAU2_W1, 'x', 'Qwen/Qwen3-32B-FP8')).toBe('Qwen3-32B-FP8');
    expect(expertKey(TAU2_W1, 'x', 'qwen3-32b')).toBe('Qwen3-32B-FP8');
    expect(expertKey(TAU2_W1, 'x', 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8')).toBe(
      'Qwen3-Next-80B-A3B-Instruct-FP8',
    );
    expect(expertKey(TAU2_W1, 'expert-1', undefined)).toBe('gpt-oss-20b');
    expect(expertKey(TAU2_W1, 'expert-2', 'some/other-model')).toBe('Qwen3-32B-FP8');
    expect(expertKey(TAU2_W1, 'expert-9', undefined)).toBe(TAU2_W1.expertFallback);
  });
});

describe('tau2-w1 profile: seeded draws match the stated parameters', () => {
  it('has the tau2-bench task counts per domain and is deterministic', () => {
    const one = generateTasks({ seed: 5, scale: 1, overrides: {}, profile: 'tau2-w1' });
    const n = (d: string) => one.filter((t) => t.domain === d).length;
    expect([n('retail'), n('telecom'), n('airline')]).toEqual([114, 114, 50]);
    expect(generateTasks({ seed: 5, scale: 1, overrides: {}, profile: 'tau2-w1' })).toEqual(one);
    expect(one.every((t) => t.profile === 'tau2-w1')).toBe(true);
  });

  it('orchestrator calls per task, user turns, head size: per domain, means within 5 %', () => {
    for (const [d, p] of Object.entries(TAU2_W1.domains)) {
      const ts = tasks.filter((t) => t.domain === d);
      within(avg(ts.map((t) => t.plannedSteps)), mean(p.stepsPerTask), 0.05);
      within(avg(ts.map((t) => t.userTurns)), (p.userTurns.min + p.userTurns.max) / 2, 0.05);
      within(avg(ts.map((t) => t.firstUserTokens)), mean(p.firstUserTokens), 0.05);
      expect(new Set(ts.map((t) => t.systemPromptTokens))).toEqual(new Set([p.systemPromptTokens]));
      const first = plans.filter((x) => x.domain === d).map((x) => (x.steps[0] as PlannedStep).promptTokens);
      within(
        avg(first),
        p.systemPromptTokens + mean(p.firstUserTokens) + 2 * TAU2_W1.messageOverheadTokens,
        0.02,
      );
    }
    expect(Math.max(...tasks.map((t) => t.plannedSteps))).toBeLessThanOrEqual(TAU2_W1.maxCallsPerTask);
  });

  it('~23.5 orchestrator calls and ~48 tau2 role transitions per task over the 278 (the published 45-53)', () => {
    const calls = avg(plans.map((p) => p.steps.length));
    within(calls, 23.5, 0.05);
    // tau2's Orchestrator.step count: the opening user message, every orchestrator reply, and
    // the environment or user turn after every reply but the last
    const transitions = avg(
      plans.map((p) => 1 + p.steps.length + p.steps.filter((s) => s.next.type !== 'end').length),
    );
    expect(transitions).toBeGreaterThan(45);
    expect(transitions).toBeLessThan(53);
  });

  it('orchestrator output (think included) by what follows; user replies; tools; user latency', () => {
    const by = (f: (s: PlannedStep) => boolean) => steps.filter(f);
    const toolish = by((s) => s.next.type === 'tool' || s.next.type === 'expert');
    const message = by((s) => s.next.type === 'user' || s.next.type === 'end');
    within(avg(toolish.map((s) => s.outputTokens)), mean(TAU2_W1.orchestratorOutputTokens.toolCall), 0.05);
    within(avg(message.map((s) => s.outputTokens)), mean(TAU2_W1.orchestratorOutputTokens.message), 0.05);
    expect(Math.max(...steps.map((s) => s.outputTokens))).toBeLessThanOrEqual(TAU2_W1.orchestratorMaxTokens);
    const tools = by((s) => s.next.type === 'tool');
    within(avg(tools.map((s) => s.next.durationMs ?? -1)), mean(TAU2_W1.domains.retail!.toolLatencyMs), 0.05);
    for (const [d, p] of Object.entries(TAU2_W1.domains)) {
      const users = plans
        .filter((x) => x.domain === d)
        .flatMap((x) => x.steps.filter((s) => s.next.type === 'user'));
      within(avg(users.map((s) => s.next.durationMs ?? -1)), mean(p.userDelayMs), 0.05);
      const share = plans
        .filter((x) => x.domain === d)
        .flatMap((x) => x.steps.filter((s) => s.next.type === 'tool' || s.next.type === 'expert'))
        .map((s) => (s.next.type === 'expert' ? 1 : 0));
      within(avg(share), p.expertProb, 0.08);
    }
  });

  it('expert output per expert model, by the spec model or by W1 name', () => {
    const ex = steps.filter((s) => s.expert);
    for (const [name, key] of Object.entries(TAU2_W1.expertByName)) {
      const outs = ex.filter((s) => s.expert?.expert === name).map((s) => s.expert?.outputTokens ?? 0);
      expect(outs.length).toBeGreaterThan(500);
      within(avg(outs), mean(TAU2_W1.expertOutputTokens[key] as DistSpec), 0.05);
    }
    // the spec maps expert-1 to Qwen3-Next: its lengths follow the model, not the name
    const swapped = tasks
      .slice(0, 2000)
      .map((t) => planFromTask(t, ['expert-1'], 600, { 'expert-1': 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8' }));
    const outs = swapped.flatMap((p) => p.steps.flatMap((s) => (s.expert ? [s.expert.outputTokens] : [])));
    within(avg(outs), mean(TAU2_W1.expertOutputTokens['Qwen3-Next-80B-A3B-Instruct-FP8'] as DistSpec), 0.06);
    expect(swapped[0]?.steps.find((s) => s.expert)?.expert?.model).toBe(
      'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8',
    );
  });

  it('trims the orchestrator history at ~23k tokens; the prompt grows by what the last call added until then', () => {
    const max = Math.max(...steps.map((s) => s.promptTokens));
    expect(max).toBe(TAU2_W1.historyTrimTokens);
    expect(steps.filter((s) => s.promptTokens === TAU2_W1.historyTrimTokens).length).toBeGreaterThan(100);
    const long = plans.find((p) =>
      p.steps.some((s) => s.promptTokens === TAU2_W1.historyTrimTokens),
    ) as TaskPlan;
    for (let i = 1; i < long.steps.length; i++) {
      const a = long.steps[i - 1] as PlannedStep;
      const b = long.steps[i] as PlannedStep;
      const added = a.next.type === 'expert' ? (a.expert?.outputTokens ?? 0) : undefined;
      if (b.promptTokens < TAU2_W1.historyTrimTokens) {
        expect(b.promptTokens).toBeGreaterThan(a.promptTokens + a.outputTokens);
        if (added !== undefined) expect(b.promptTokens).toBe(a.promptTokens + a.outputTokens + added + 20);
      }
    }
  });

  it('overrides apply on top of the profile', () => {
    const t = generateTasks({
      seed: 1,
      scale: 1,
      domains: ['airline'],
      overrides: {
        airline: { tasks: 7, userTurns: { min: 0, max: 0 }, toolLatencyMs: { median: 50, sigma: 0 } },
      },
      profile: 'tau2-w1',
    });
    expect(t).toHaveLength(7);
    expect(t.every((x) => x.userTurns === 0 && x.toolLatencyMs.median === 50)).toBe(true);
    expect(t[0]?.systemPromptTokens).toBe(TAU2_W1.domains.airline?.systemPromptTokens);
  });
});

describe('without a profile nothing changes', () => {
  it('draws exactly the tasks and synthetic plans it drew before profiles existed', () => {
    const h = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);
    // digests of the pre-profile generator (commit b59c8de's taskset.ts and synthetic.ts)
    const golden: Record<number, [string, string]> = {
      0: ['4fcb1da2f3106709', '1f9fefa7a6632e7a'],
      3: ['ace3db7f9ae567f7', 'c64e520566ec5555'],
      11: ['64efeed61a62b441', 'eeb5c309b237dc70'],
    };
    for (const [seed, [tasksHash, plansHash]] of Object.entries(golden)) {
      const ts = generateTasks({ seed: Number(seed), scale: 1, overrides: {} });
      expect(h(ts)).toBe(tasksHash);
      expect(h(ts.map((t) => planFromTask(t, EXPERTS, 600)))).toBe(plansHash);
    }
  });
});

const SPEC = (generator: string) => `name: t
servers:
  s:
    kind: external
    endpoints: {"/ckpt/o": [{"ip_addr": "127.0.0.1", "port": "1900"}]}
arms: [{name: a, servers: s}]
workload: {generator: ${generator}}
agent: {orchestrator: /ckpt/o, experts: {expert-1: openai/gpt-oss-20b}}
concurrency: [2]
`;

describe('the spec selects a profile', () => {
  it('accepts profile: tau2-w1 and builds the profile workload from it', () => {
    const r = parseSpecText(SPEC('{profile: tau2-w1, mode: synthetic, count: 5}'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.workload.generator?.profile).toBe('tau2-w1');
    const w = buildWorkload(r.spec, '.', 0, ['expert-1']);
    expect(w.name).toBe('tau2-w1 synthetic');
    expect(w.items).toHaveLength(5);
    const plan = w.items[0]?.kind === 'replay' ? w.items[0].plan : undefined;
    expect(plan?.steps[0]?.promptTokens).toBeGreaterThan(3800);
    const plain = parseSpecText(SPEC('{count: 5}'));
    expect(plain.ok && plain.spec.workload.generator?.profile).toBeUndefined();
    if (plain.ok) expect(buildWorkload(plain.spec, '.', 0, ['expert-1']).name).toBe('tau2-like');
  });

  it('rejects an unknown profile naming it, the known ones and the way out (exit 2)', () => {
    const r = parseSpecText(SPEC('{profile: tau2-w2}'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === 'workload.generator.profile');
    expect(issue?.message).toBe(
      'unknown workload profile "tau2-w2" (known: tau2-w1; leave profile out for the plain tau2-like generator)',
    );
    expect(issue?.line).toBe(7);
    const dir = mkdtempSync(join(tmpdir(), 'servelab-profile-'));
    const file = join(dir, 'spec.yaml');
    writeFileSync(file, SPEC('{profile: tau2-w2}'));
    let err: unknown;
    try {
      loadSpecFile(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServelabError);
    expect((err as ServelabError).exitCode).toBe(2);
    expect((err as ServelabError).message).toContain(`${file}:7:`);
    expect((err as ServelabError).message).toContain('unknown workload profile "tau2-w2"');
  });
});

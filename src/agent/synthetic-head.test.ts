/** Synthetic tau2 plans share each domain's head (policy + tool schemas) across programs, as tau2 does. */
import { describe, expect, it } from 'vitest';
import { planFromTask } from './synthetic.js';
import { generateTasks } from './taskset.js';

describe('synthetic plans: the head of a domain', () => {
  it('every task of a domain starts with the same head segment (a shared prefix on the server); domains differ', () => {
    const tasks = generateTasks({ seed: 1, scale: 0.2, overrides: {}, profile: 'tau2-w1' });
    const plans = tasks.map((t) => ({
      t,
      p: planFromTask(t, ['expert-1'], 600, { 'expert-1': 'openai/gpt-oss-20b' }),
    }));
    const heads = new Map<string, Set<string>>();
    for (const { t, p } of plans) {
      const seg = p.steps[0]?.prefix;
      expect(seg, t.id).toHaveLength(1);
      expect(seg![0]!.tokens).toBe(t.systemPromptTokens);
      heads.set(t.domain, (heads.get(t.domain) ?? new Set()).add(seg![0]!.id));
      // only the first call carries it (the replayer builds every later prompt on the first)
      expect(p.steps.slice(1).every((s) => s.prefix === undefined)).toBe(true);
    }
    expect([...heads.values()].map((s) => s.size)).toEqual([1, 1, 1]);
    expect(new Set([...heads.values()].map((s) => [...s][0])).size).toBe(3);
  });
});

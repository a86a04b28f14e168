/** The cell's work items from the spec's workload: generated tasks (live or synthetic), a task file, or a replay trace. */
import { resolve } from 'node:path';
import type { WorkItem } from '../agent/driver.js';
import { planFromTask } from '../agent/synthetic.js';
import { generateTasks, readTaskFile } from '../agent/taskset.js';
import { readReplayFile } from '../agent/trace.js';
import type { Spec } from '../config/spec.js';

export interface Workload {
  name: string;
  items: WorkItem[];
}

export function buildWorkload(
  spec: Spec,
  baseDir: string,
  seed: number,
  experts: readonly string[],
  replayOverride?: string,
): Workload {
  const w = spec.workload;
  const replay = replayOverride ?? w.replay;
  if (replay) {
    const path = replayOverride ? resolve(replayOverride) : resolve(baseDir, replay);
    return {
      name: `replay:${replay}`,
      items: readReplayFile(path).map((plan) => ({ kind: 'replay', plan })),
    };
  }
  if (w.tasks) {
    return {
      name: `tasks:${w.tasks}`,
      items: readTaskFile(resolve(baseDir, w.tasks), seed).map((task) => ({ kind: 'live', task })),
    };
  }
  const g = w.generator ?? { scale: 1, overrides: {}, systemPromptTokens: 600, mode: 'live' as const };
  const tasks = generateTasks({
    seed,
    domains: g.domains,
    scale: g.scale,
    count: g.count,
    overrides: g.overrides,
    ...('profile' in g && g.profile ? { profile: g.profile } : {}),
  });
  const kind = 'profile' in g && g.profile ? g.profile : 'tau2-like';
  if (g.mode === 'synthetic') {
    // a profile's expert lengths go by the expert's model, where the spec names it
    const models = spec.agent?.experts ?? {};
    return {
      name: `${kind} synthetic`,
      items: tasks.map((t) => ({
        kind: 'replay',
        plan: planFromTask(t, experts, g.systemPromptTokens, models),
      })),
    };
  }
  return { name: kind, items: tasks.map((task) => ({ kind: 'live', task })) };
}

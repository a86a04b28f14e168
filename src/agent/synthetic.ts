/**
 * Synthetic plans: a generated task turned into a fixed call structure (steps from the task's
 * steps-per-task draw, expert calls with its probability, tool latencies and result sizes,
 * user turns spread over the steps), replayed like a trace. Every arm then gets the identical
 * workload without recording a live run first.
 */
import { intIn, logNormal, mixSeed, mulberry32 } from './rng.js';
import type { AgentTask } from './taskset.js';
import type { PlannedStep, TaskPlan } from './trace.js';

export function planFromTask(
  task: AgentTask,
  experts: readonly string[],
  systemPromptTokens: number,
): TaskPlan {
  const rng = mulberry32(mixSeed(task.seed, 0x5717));
  const n = Math.max(1, task.plannedSteps);
  const userAt = new Set<number>();
  for (let k = 0; k < Math.min(task.userTurns, n - 1); k++) userAt.add(intIn(rng, 0, n - 2));
  const steps: PlannedStep[] = [];
  let prompt = systemPromptTokens + task.firstUserTokens + 20;
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const isUser = userAt.has(i);
    const isExpert = !last && !isUser && experts.length > 0 && rng.next() < task.expertProb;
    const out = Math.round(logNormal(rng, isUser || last ? 80 : 40, 0.5, 4, 2000));
    const step: PlannedStep = { promptTokens: prompt, outputTokens: out, next: { type: 'end' } };
    let added = 0;
    if (last) step.next = { type: 'end' };
    else if (isUser) {
      step.next = {
        type: 'user',
        durationMs: Math.round(logNormal(rng, task.userDelayMs.median, task.userDelayMs.sigma, 0, 600_000)),
      };
      added = Math.round(logNormal(rng, 40, 0.6, 3, 400));
    } else if (isExpert) {
      const expert = experts[Math.floor(rng.next() * experts.length)] as string;
      const eo = Math.round(logNormal(rng, 150, 0.6, 8, 2000));
      step.next = { type: 'expert', name: expert };
      step.expert = { expert, model: '', promptTokens: prompt + out, outputTokens: eo };
      added = eo;
    } else {
      const tool = task.tools[Math.floor(rng.next() * task.tools.length)] as string;
      step.next = {
        type: 'tool',
        name: tool,
        durationMs: Math.round(
          logNormal(rng, task.toolLatencyMs.median, task.toolLatencyMs.sigma, 0, 600_000),
        ),
      };
      added = Math.round(
        logNormal(rng, task.toolResultTokens.median, task.toolResultTokens.sigma, 1, 20_000),
      );
    }
    steps.push(step);
    prompt += out + added + 10;
  }
  return { taskId: task.id, domain: task.domain, steps };
}

/**
 * Synthetic plans: a generated task turned into a fixed call structure (steps from the task's
 * steps-per-task draw, expert calls with its probability, tool latencies and result sizes,
 * user turns spread over the steps), replayed like a trace. Every arm then gets the identical
 * workload without recording a live run first. A task drawn from a workload profile
 * (`task.profile`) takes its call sizes from the profile: orchestrator output by what follows,
 * expert output by the expert's model, user replies, the head size, and the history trimmed
 * at the profile's size.
 */
import type { DistSpec } from '../config/spec.js';
import { expertKey, type WorkloadProfile, workloadProfile } from './profiles/index.js';
import { intIn, logNormal, mixSeed, mulberry32, type Rng } from './rng.js';
import type { AgentTask } from './taskset.js';
import type { PlannedStep, TaskPlan } from './trace.js';

/**
 * @param experts the expert names the orchestrator may call
 * @param systemPromptTokens the head size (a profile task's own head size wins)
 * @param expertModels expert name -> model id, for a profile's per-model expert lengths
 */
export function planFromTask(
  task: AgentTask,
  experts: readonly string[],
  systemPromptTokens: number,
  expertModels: Readonly<Record<string, string>> = {},
): TaskPlan {
  if (task.profile !== undefined)
    return profilePlan(task, experts, workloadProfile(task.profile), expertModels);
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

const draw = (rng: Rng, d: DistSpec, lo: number, hi: number) =>
  Math.round(logNormal(rng, d.median, d.sigma, lo, hi));

function profilePlan(
  task: AgentTask,
  experts: readonly string[],
  p: WorkloadProfile,
  expertModels: Readonly<Record<string, string>>,
): TaskPlan {
  const rng = mulberry32(mixSeed(task.seed, 0x5717));
  const n = Math.max(1, task.plannedSteps);
  const userAt = new Set<number>();
  for (let k = 0; k < Math.min(task.userTurns, n - 1); k++) userAt.add(intIn(rng, 0, n - 2));
  const ovh = p.messageOverheadTokens;
  const steps: PlannedStep[] = [];
  // the conversation as the orchestrator is sent it: middle-trimmed to historyTrimTokens
  let conv = (task.systemPromptTokens ?? 0) + task.firstUserTokens + 2 * ovh;
  for (let i = 0; i < n; i++) {
    const prompt = Math.min(conv, p.historyTrimTokens);
    const last = i === n - 1;
    const isUser = userAt.has(i);
    const isExpert = !last && !isUser && experts.length > 0 && rng.next() < task.expertProb;
    const o = p.orchestratorOutputTokens;
    const out = draw(rng, isUser || last ? o.message : o.toolCall, 1, p.orchestratorMaxTokens);
    const step: PlannedStep = { promptTokens: prompt, outputTokens: out, next: { type: 'end' } };
    let added = 0;
    if (last) step.next = { type: 'end' };
    else if (isUser) {
      step.next = { type: 'user', durationMs: draw(rng, task.userDelayMs, 0, 600_000) };
      added = draw(rng, p.userMessageTokens, 1, 4000);
    } else if (isExpert) {
      const expert = experts[Math.floor(rng.next() * experts.length)] as string;
      const model = expertModels[expert];
      const dist = p.expertOutputTokens[expertKey(p, expert, model)] as DistSpec;
      const eo = draw(rng, dist, 1, p.expertMaxTokens);
      step.next = { type: 'expert', name: expert };
      step.expert = { expert, model: model ?? '', promptTokens: prompt + out + ovh, outputTokens: eo };
      added = eo;
    } else {
      const tool = task.tools[Math.floor(rng.next() * task.tools.length)] as string;
      step.next = { type: 'tool', name: tool, durationMs: draw(rng, task.toolLatencyMs, 0, 600_000) };
      added = draw(rng, task.toolResultTokens, 1, 20_000);
    }
    // tau2: the head (domain policy + tool schemas) is the same text for every task of a domain,
    // so programs share it as a prefix (the replayer turns equal ids into equal text)
    if (i === 0 && task.systemPromptTokens)
      step.prefix = [{ id: `system:tau2-${task.domain}`, tokens: task.systemPromptTokens }];
    steps.push(step);
    conv = prompt + out + ovh + added + ovh;
  }
  return { taskId: task.id, domain: task.domain, steps };
}

/**
 * Task sets: a seeded generator modelled on tau2-bench (retail 114, telecom 114, airline 50
 * tasks; per-domain tools, tool latency and result-size distributions, expert-call
 * probability, user turns and delays, steps per task) with every parameter overridable, and
 * JSONL task files. Same seed, same tasks, same order. A workload profile (`profiles/`,
 * `workload.generator.profile`) replaces TAU2_DOMAINS as the base the overrides apply to.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { DistSpec, DomainOverride } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import { workloadProfile } from './profiles/index.js';
import { hashString, intIn, logNormal, mixSeed, mulberry32, shuffle } from './rng.js';
import { TAU2_TOOLS } from './tau2-tools.js';

export interface DomainParams {
  tasks: number;
  tools: string[];
  toolLatencyMs: DistSpec;
  toolResultTokens: DistSpec;
  /** chance that a tool step is an expert call (synthetic plans) */
  expertProb: number;
  /** user turns after the first message */
  userTurns: { min: number; max: number };
  userDelayMs: DistSpec;
  stepsPerTask: DistSpec;
  firstUserTokens: DistSpec;
}

export const TAU2_DOMAINS: Record<string, DomainParams> = {
  retail: {
    tasks: 114,
    tools: TAU2_TOOLS.retail,
    toolLatencyMs: { median: 150, sigma: 0.8 },
    toolResultTokens: { median: 300, sigma: 0.7 },
    expertProb: 0.35,
    userTurns: { min: 1, max: 4 },
    userDelayMs: { median: 3000, sigma: 0.6 },
    stepsPerTask: { median: 14, sigma: 0.5 },
    firstUserTokens: { median: 80, sigma: 0.5 },
  },
  telecom: {
    tasks: 114,
    tools: TAU2_TOOLS.telecom,
    toolLatencyMs: { median: 200, sigma: 0.8 },
    toolResultTokens: { median: 250, sigma: 0.8 },
    expertProb: 0.3,
    userTurns: { min: 2, max: 7 },
    userDelayMs: { median: 4000, sigma: 0.6 },
    stepsPerTask: { median: 20, sigma: 0.5 },
    firstUserTokens: { median: 60, sigma: 0.5 },
  },
  airline: {
    tasks: 50,
    tools: TAU2_TOOLS.airline,
    toolLatencyMs: { median: 180, sigma: 0.8 },
    toolResultTokens: { median: 450, sigma: 0.8 },
    expertProb: 0.4,
    userTurns: { min: 1, max: 5 },
    userDelayMs: { median: 3500, sigma: 0.6 },
    stepsPerTask: { median: 16, sigma: 0.5 },
    firstUserTokens: { median: 90, sigma: 0.5 },
  },
};

export interface AgentTask {
  id: string;
  domain: string;
  seed: number;
  tools: string[];
  firstUserTokens: number;
  userTurns: number;
  plannedSteps: number;
  toolLatencyMs: DistSpec;
  toolResultTokens: DistSpec;
  userDelayMs: DistSpec;
  expertProb: number;
  /** the workload profile the task was drawn from (`workload.generator.profile`) */
  profile?: string;
  /** the profile's head size for this domain (system prompt + tool schemas), tokens */
  systemPromptTokens?: number;
}

export interface GeneratorOptions {
  seed: number;
  domains?: string[];
  scale: number;
  count?: number;
  overrides: Record<string, DomainOverride>;
  /** a named preset (profiles/): its domains replace TAU2_DOMAINS as the base of the overrides */
  profile?: string;
}

export function domainParams(
  domain: string,
  o: DomainOverride | undefined,
  table: Record<string, DomainParams> = TAU2_DOMAINS,
): DomainParams {
  const base = table[domain] ?? { ...(table.retail ?? TAU2_DOMAINS.retail!), tasks: 0 };
  return {
    ...base,
    ...Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)),
  } as DomainParams;
}

/** The generated task set in dispatch order (seeded shuffle across domains). */
export function generateTasks(opts: GeneratorOptions): AgentTask[] {
  const profile = opts.profile !== undefined ? workloadProfile(opts.profile) : undefined;
  const table: Record<string, DomainParams> = profile?.domains ?? TAU2_DOMAINS;
  const maxSteps = profile?.maxCallsPerTask ?? 200;
  const domains = opts.domains ?? Object.keys(table);
  const tasks: AgentTask[] = [];
  for (const domain of domains) {
    const p = domainParams(domain, opts.overrides[domain], table);
    if (p.tasks === 0 && !table[domain]) {
      throw new ServelabError('BAD_CONFIG', `unknown domain "${domain}" with no task count`, {
        hint: `known: ${Object.keys(table).join(', ')}; or set overrides.${domain}.tasks`,
      });
    }
    const n = Math.max(p.tasks > 0 ? 1 : 0, Math.round(p.tasks * opts.scale));
    for (let i = 0; i < n; i++) {
      const seed = mixSeed(opts.seed, hashString(domain), i);
      const rng = mulberry32(seed);
      const task: AgentTask = {
        id: `${domain}-${i}`,
        domain,
        seed,
        tools: p.tools,
        firstUserTokens: Math.round(
          logNormal(rng, p.firstUserTokens.median, p.firstUserTokens.sigma, 4, 4000),
        ),
        userTurns: intIn(rng, p.userTurns.min, Math.max(p.userTurns.min, p.userTurns.max)),
        plannedSteps: Math.round(logNormal(rng, p.stepsPerTask.median, p.stepsPerTask.sigma, 1, maxSteps)),
        toolLatencyMs: p.toolLatencyMs,
        toolResultTokens: p.toolResultTokens,
        userDelayMs: p.userDelayMs,
        expertProb: p.expertProb,
      };
      if (profile) {
        task.profile = profile.name;
        // a custom domain (overrides.<d>.tasks) takes retail's head size
        const head = profile.domains[domain] ?? profile.domains.retail;
        if (head) task.systemPromptTokens = head.systemPromptTokens;
      }
      tasks.push(task);
    }
  }
  const ordered = shuffle(tasks, mulberry32(mixSeed(opts.seed, 0xa11)));
  return opts.count !== undefined ? ordered.slice(0, opts.count) : ordered;
}

const taskLine = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  domain: z.string().default('custom'),
  tools: z.array(z.string()).optional(),
  first_user_tokens: z.number().int().positive().optional(),
  user_turns: z.number().int().nonnegative().optional(),
  planned_steps: z.number().int().positive().optional(),
  tool_latency_ms: z.object({ median: z.number(), sigma: z.number().default(0.5) }).optional(),
  tool_result_tokens: z.object({ median: z.number(), sigma: z.number().default(0.5) }).optional(),
  user_delay_ms: z.object({ median: z.number(), sigma: z.number().default(0.5) }).optional(),
  expert_prob: z.number().min(0).max(1).optional(),
  /** tau2-style tasks: the domain sits in user_scenario.instructions.domain */
  user_scenario: z
    .object({ instructions: z.object({ domain: z.string().optional() }).loose() })
    .loose()
    .optional(),
});

/** A JSONL task file: our own fields, or tau2-bench tasks (id + user_scenario). */
export function readTaskFile(path: string, seed: number): AgentTask[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServelabError('BAD_FILE', `cannot read task file "${path}"`, { cause: err });
  }
  const errors: string[] = [];
  const tasks: AgentTask[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      errors.push(`${path}:${i + 1}: not JSON`);
      return;
    }
    const r = taskLine.safeParse(raw);
    if (!r.success) {
      errors.push(
        `${path}:${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`,
      );
      return;
    }
    const t = r.data;
    const domain = t.user_scenario?.instructions.domain ?? t.domain;
    const p = domainParams(domain, undefined);
    const tseed = mixSeed(seed, hashString(`${domain}/${t.id}`));
    const rng = mulberry32(tseed);
    tasks.push({
      id: t.id,
      domain,
      seed: tseed,
      tools: t.tools ?? p.tools,
      firstUserTokens:
        t.first_user_tokens ??
        Math.round(logNormal(rng, p.firstUserTokens.median, p.firstUserTokens.sigma, 4, 4000)),
      userTurns: t.user_turns ?? intIn(rng, p.userTurns.min, p.userTurns.max),
      plannedSteps:
        t.planned_steps ?? Math.round(logNormal(rng, p.stepsPerTask.median, p.stepsPerTask.sigma, 1, 200)),
      toolLatencyMs: t.tool_latency_ms ?? p.toolLatencyMs,
      toolResultTokens: t.tool_result_tokens ?? p.toolResultTokens,
      userDelayMs: t.user_delay_ms ?? p.userDelayMs,
      expertProb: t.expert_prob ?? p.expertProb,
    });
  });
  if (errors.length > 0)
    throw new ServelabError('BAD_FILE', `${errors.length} bad task line(s):\n${errors.join('\n')}`);
  return tasks;
}

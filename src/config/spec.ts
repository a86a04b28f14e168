/**
 * The experiment spec: servers per arm, arms, workload, concurrency x repetitions, limits,
 * metrics. Declarative and validated up front; `describeSpec` prints it in one line.
 */
import { z } from 'zod';
import { BENCH_MAX_ERROR_RATE_DEFAULT, BENCH_TIMEOUT_DEFAULTS_S } from '../loadgen/bench-flags.js';
import { shellQuote } from '../shell-quote.js';
import { BOUNDS, count, durationMs, durationS, list, tokens } from './bounds.js';
import { httpUrl, serversSchema, simServersSchema } from './spec-servers.js';
import { slurmLauncherSchema, sweepSchema } from './spec-sweep.js';

export {
  httpUrl,
  type ServersSpec,
  type SimRouterSpec,
  serversSchema,
  simRouterSchema,
  VLLM_SWEEPABLE,
  type VllmServersSpec,
  type VllmSweepable,
} from './spec-servers.js';
export {
  type SlurmLauncherSpec,
  SWEEP_PHASE_NAMES,
  type SweepPhaseName,
  type SweepSpec,
} from './spec-sweep.js';

const secretRef = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof secretRef>;

export const PROGRAM_FIELDS = [
  'program_id',
  'job_id',
  'is_last_step',
  'this_func_call',
  'last_func_call',
] as const;
export type ProgramField = (typeof PROGRAM_FIELDS)[number];

const armSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only (it names a directory)'),
  servers: z.string().min(1),
  /** program identity fields sent on every call (default: all of them) */
  programFields: z.array(z.enum(PROGRAM_FIELDS)).default([...PROGRAM_FIELDS]),
  /** POST /programs/release {program_id} at program end: true = on the orchestrator's origin, or a URL */
  release: z.union([z.boolean(), httpUrl()]).default(false),
  /** replay output lengths: the simulator's directive, or max/min_tokens + ignore_eos (vLLM) */
  replayOutput: z.enum(['auto', 'directive', 'min_tokens']).default('auto'),
  extraBody: z.record(z.string(), z.unknown()).default({}),
  /**
   * virtual time (`servelab simulate`): the simulated system that stands in for this arm's
   * `command` or `external` servers (a sim servers entry without `kind`); ignored in real time
   */
  simulateAs: simServersSchema.omit({ kind: true }).optional(),
});
export type ArmSpec = z.output<typeof armSchema>;

/** A lognormal (median, sigma); the median bounded in its unit (ms, tokens, steps). */
const distOf = (maxMedian: number, unit: string) =>
  z.strictObject({
    median: z
      .number()
      .nonnegative()
      .max(maxMedian, `at most ${maxMedian.toLocaleString('en-US')} ${unit}`),
    sigma: z.number().nonnegative().max(10).default(0.5),
  });
const msDist = distOf(BOUNDS.durationS * 1000, 'ms (7 days)');
const tokenDist = distOf(BOUNDS.tokens, 'tokens');
export type DistSpec = z.output<typeof msDist>;

const domainOverride = z.strictObject({
  tasks: count(0, BOUNDS.tasks).optional(),
  tools: list(z.string().min(1)).min(1).optional(),
  toolLatencyMs: msDist.optional(),
  toolResultTokens: tokenDist.optional(),
  expertProb: z.number().min(0).max(1).optional(),
  userTurns: z
    .strictObject({ min: count(0, BOUNDS.listLength), max: count(0, BOUNDS.listLength) })
    .refine((t) => t.min <= t.max, {
      message: 'min must be <= max (user turns after the first message, e.g. {min: 1, max: 4})',
    })
    .optional(),
  userDelayMs: msDist.optional(),
  stepsPerTask: distOf(BOUNDS.steps, 'steps').optional(),
  firstUserTokens: tokenDist.optional(),
});
export type DomainOverride = z.output<typeof domainOverride>;

/** The workload profiles (agent/profiles/ WORKLOAD_PROFILES; a test keeps them equal). */
export const WORKLOAD_PROFILE_NAMES = ['tau2-w1'] as const;

const generatorSchema = z.strictObject({
  /** which domains (default all three of tau2-bench) */
  domains: list(z.string().min(1)).min(1).optional(),
  /** fraction of each domain's tasks to run (0-1] */
  scale: z.number().positive().max(1).default(1),
  /** or an exact total count (after scale); tasks picked in seeded order */
  count: count(1, BOUNDS.tasks).optional(),
  overrides: z.record(z.string(), domainOverride).default({}),
  systemPromptTokens: tokens(0).default(600),
  /** live: the orchestrator model decides; synthetic: a fixed call structure drawn from the task's parameters */
  mode: z.enum(['live', 'synthetic']).default('live'),
  /**
   * a named preset of the generator's parameters (agent/profiles/): `tau2-w1` = the users' W1
   * runs; overrides apply on top; in synthetic mode its call sizes and head size replace the
   * plain generator's (and systemPromptTokens). Absent: the plain tau2-like generator.
   */
  profile: z
    .enum(WORKLOAD_PROFILE_NAMES, {
      error: (iss) =>
        `unknown workload profile ${JSON.stringify(iss.input)} (known: ${WORKLOAD_PROFILE_NAMES.join(', ')}; leave profile out for the plain tau2-like generator)`,
    })
    .optional(),
});

/** A request-stream workload (the bench datasets, the W3 suites): workload/source.ts options. */
const requestsSchema = z.strictObject({
  dataset: z.enum(['random', 'sharegpt', 'jsonl', 'prefix']).optional(),
  /** W3 suite: quick_test | medium_balanced | large_throughput | short_latency | long_context */
  suite: z.string().min(1).optional(),
  path: z.string().min(1).optional(),
  /** measured requests per cell (default: the dataset's size; random: 1000) */
  num_prompts: count(1, BOUNDS.prompts).optional(),
  /** warm-up requests before measuring (recorded, excluded) */
  warmup: count(0, BOUNDS.prompts).default(0),
  input_len: tokens().optional(),
  output_len: tokens().optional(),
  range_ratio: z.number().min(0).lt(1).optional(),
  input_dist: z.string().min(1).optional(),
  output_dist: z.string().min(1).optional(),
  prefix_groups: count(1, BOUNDS.prompts).optional(),
  prompts_per_group: count(1, BOUNDS.prompts).optional(),
  prefix_len: tokens().optional(),
  /** ShareGPT: force every item's output length */
  sharegpt_output_len: tokens().optional(),
  /** the model requests name (default: the servers' first served model) */
  model: z.string().min(1).optional(),
  api: z.enum(['chat', 'completions']).default('completions'),
  stream: z.boolean().default(true),
  /** min_tokens = max_tokens and ignore_eos: exactly the asked output length (vLLM) */
  ignore_eos: z.boolean().default(true),
  /** rate levels: Poisson (1) or gamma arrivals with this burstiness */
  burstiness: z.number().positive().max(1000).default(1),
  /** with rate levels: a cap on requests in flight */
  max_concurrency: count(1, BOUNDS.concurrency).optional(),
  /** rate levels: Poisson/gamma arrivals (burstiness), or evenly spaced (constant) */
  arrivals: z.enum(['random', 'constant']).default('random'),
  /** send min_tokens = max_tokens (default: as ignore_eos; off for servers that reject it) */
  min_tokens: z.boolean().optional(),
  temperature: z.number().min(0).max(100).optional(),
  /** merged into every request body (e.g. chat_template_kwargs) */
  extra_body: z.record(z.string(), z.unknown()).optional(),
  /** extra HTTP headers of every request (values of auth-like headers are scrubbed from every file) */
  headers: z.record(z.string(), z.string()).optional(),
  /** the API key of the requests (Authorization: Bearer) */
  apiKey: secretRef.optional(),
  /** measure each load level for this long instead of num_prompts */
  duration_s: durationS().optional(),
  /** total timeout per request (default: none) */
  timeoutS: durationS().optional(),
  /** send -> first byte; null = none (default: bench's, loadgen/bench-flags.ts) */
  first_byte_timeout_s: durationS().nullable().default(BENCH_TIMEOUT_DEFAULTS_S.firstByte),
  /** longest silence of a stream after its first byte; null = none */
  idle_timeout_s: durationS().nullable().default(BENCH_TIMEOUT_DEFAULTS_S.idle),
  /** latency percentiles of the summaries */
  percentiles: list(z.number().gt(0).max(100)).optional(),
  /** goodput SLOs in ms: a request counts when it meets every one given */
  goodput: z
    .strictObject({
      ttft_ms: z.number().positive().optional(),
      tpot_ms: z.number().positive().optional(),
      e2el_ms: z.number().positive().optional(),
    })
    .optional(),
  /** worker threads sending the HTTP load (real time only; 0 = the main thread) */
  workers: z.union([z.literal('auto'), count(0, 64)]).default(0),
  /** the share of measured requests that may fail before `servelab bench` exits 1 */
  max_error_rate: z.number().min(0).max(1).default(BENCH_MAX_ERROR_RATE_DEFAULT),
});
export type RequestsWorkloadSpec = z.output<typeof requestsSchema>;

const workloadSchema = z
  .strictObject({
    /** agent programs: */
    generator: generatorSchema.optional(),
    /** a JSONL task file (one task per line) */
    tasks: z.string().min(1).optional(),
    /** a steps.jsonl trace (ours) or a mooncake-style session trace */
    replay: z.string().min(1).optional(),
    /** or a request stream (bench datasets, suites) at concurrencies or request rates */
    requests: requestsSchema.optional(),
  })
  .refine((w) => [w.generator, w.tasks, w.replay, w.requests].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of generator, tasks, replay (agent programs) or requests (a request stream)',
  });
export type WorkloadSpec = z.output<typeof workloadSchema>;

const limitsSchema = z.strictObject({
  maxSteps: count(1, BOUNDS.steps).default(200),
  maxTaskTimeS: durationS().default(3600),
  callTimeoutS: durationS().default(600),
  firstByteTimeoutS: durationS().optional(),
  retries: z
    .strictObject({
      maxAttempts: count(1, BOUNDS.attempts).default(5),
      baseMs: durationMs().default(500),
      capMs: durationMs().default(10_000),
    })
    .default({ maxAttempts: 5, baseMs: 500, capMs: 10_000 }),
  watchdogS: durationS().default(300),
  /** a call that receives no byte for this long is ended by the watchdog (error kind 'stalled') */
  stallTimeoutS: durationS().default(300),
  /** after Ctrl-C, how long in-flight calls may finish before they are aborted */
  graceS: durationS({ zero: true }).default(10),
});

const agentSchema = z.strictObject({
  orchestrator: z.string().min(1),
  /** expert name -> model; default the endpoints' oss_expert_mapping */
  experts: z.record(z.string(), z.string()).optional(),
  stream: z.boolean().default(true),
  maxTokens: tokens().default(8000),
  temperature: z.number().min(0).default(1),
  expertMaxTokens: tokens().default(2048),
  /** the user turn: a scripted think time, or a model endpoint plays the customer */
  user: z
    .strictObject({ mode: z.enum(['scripted', 'model']).default('scripted'), model: z.string().optional() })
    .default({ mode: 'scripted' }),
  /** middle-trim the history to about this many tokens (keep system + first user + recent) */
  historyTrimTokens: tokens().optional(),
  pool: z.enum(['random', 'round-robin', 'least-outstanding']).default('random'),
  /** per-domain slot pools: domain -> share of C (default: one global pool) */
  domainSlots: z.record(z.string(), z.number().positive()).optional(),
  /** scale of tool latencies and user delays (0.1 = ten times faster) */
  timeScale: z.number().positive().max(1000).default(1),
  apiKey: secretRef.optional(),
});

const preflightSchema = z.strictObject({
  /** false: no preflight; a server that is down shows as failed requests (servelab bench) */
  enabled: z.boolean().default(true),
  /** one chat (and, for the orchestrator, one tool-call) completion per endpoint before each cell */
  smoke: z.boolean().default(true),
  /** keep retrying (connection refused while a tunnel or a model load comes up) this long */
  waitS: durationS({ zero: true }).default(30),
});

const metricsSchema = z.strictObject({
  /** ports to sample (default: the orchestrator's) */
  ports: list(z.number().int().min(1).max(65535)).optional(),
  intervalMs: count(100, BOUNDS.durationS * 1000, 'ms').default(5000),
  names: list(z.string()).optional(),
  /** request-stream cells: read the servers' /metrics around each (preemptions, prefix hits, KV) */
  server: z.boolean().default(true),
});

const specBase = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only (it names the run directory)'),
  seed: z.number().int().nonnegative().default(0),
  servers: z.record(z.string(), serversSchema),
  arms: list(armSchema).min(1),
  workload: workloadSchema,
  /** agent programs' settings (agent workloads only) */
  agent: agentSchema.optional(),
  /** load levels: programs (agent) or requests (request stream) in flight */
  concurrency: list(count(1, BOUNDS.concurrency, 'programs in flight'))
    .min(1)
    .optional(),
  /** or request rates (requests/s; request-stream workloads) */
  rates: list(z.union([z.number().positive().max(1_000_000), z.literal('inf')]))
    .min(1)
    .optional(),
  /** server-flag sweeps over the arms' `kind: vllm` servers */
  sweep: sweepSchema.optional(),
  /** where cells run: absent = this machine; kind slurm = one SLURM job per cell */
  launcher: slurmLauncherSchema.optional(),
  repetitions: count(1, BOUNDS.repetitions).default(1),
  limits: limitsSchema.default(limitsSchema.parse({})),
  metrics: metricsSchema.default({ intervalMs: 5000, server: true }),
  preflight: preflightSchema.default({ enabled: true, smoke: true, waitS: 30 }),
  outDir: z.string().default('runs'),
});

export const specSchema = specBase.superRefine((spec, ctx) => {
  spec.arms.forEach((arm, i) => {
    if (!(arm.servers in spec.servers)) {
      ctx.addIssue({
        code: 'custom',
        path: ['arms', i, 'servers'],
        message: `unknown servers "${arm.servers}" (known: ${Object.keys(spec.servers).join(', ') || 'none'})`,
      });
    }
  });
  const names = spec.arms.map((a) => a.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i)
      ctx.addIssue({ code: 'custom', path: ['arms', i, 'name'], message: `duplicate arm "${n}"` });
  });
  const agentWork = spec.workload.requests === undefined;
  if (agentWork && !spec.agent)
    ctx.addIssue({
      code: 'custom',
      path: ['agent'],
      message: 'agent workloads need an agent section (at least agent.orchestrator: <model>)',
    });
  if (agentWork && spec.rates)
    ctx.addIssue({
      code: 'custom',
      path: ['rates'],
      message:
        'request rates are load levels of request-stream workloads (workload.requests); agent programs run at concurrency levels',
    });
  if (!spec.concurrency && !spec.rates)
    ctx.addIssue({
      code: 'custom',
      path: ['concurrency'],
      message: 'give the load levels: concurrency: [..] (or, for workload.requests, rates: [..] requests/s)',
    });
  if (spec.sweep)
    spec.arms.forEach((arm, i) => {
      const kind = spec.servers[arm.servers]?.kind;
      if (kind && kind !== 'vllm')
        ctx.addIssue({
          code: 'custom',
          path: ['arms', i, 'servers'],
          message: `a sweep sets vLLM flags: servers.${arm.servers} is kind ${kind}, not vllm`,
        });
    });
  if (spec.launcher?.kind === 'slurm') {
    spec.arms.forEach((arm, i) => {
      const kind = spec.servers[arm.servers]?.kind;
      if (kind && kind !== 'vllm')
        ctx.addIssue({
          code: 'custom',
          path: ['arms', i, 'servers'],
          message: `launcher slurm runs kind vllm servers as jobs: servers.${arm.servers} is kind ${kind}`,
        });
    });
    if (!spec.workload.requests)
      ctx.addIssue({
        code: 'custom',
        path: ['launcher'],
        message:
          'launcher slurm runs request-stream workloads (workload.requests): the benchmark runs inside each job',
      });
  }
  const rq = spec.workload.requests;
  if (rq?.duration_s !== undefined && rq.num_prompts !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['workload', 'requests', 'duration_s'],
      message: 'give num_prompts (a count of requests per cell) or duration_s (a time per cell), not both',
    });
  const levels = (spec.concurrency?.length ?? 0) + (spec.rates?.length ?? 0);
  const cells = spec.arms.length * levels * spec.repetitions;
  if (cells > BOUNDS.cells)
    ctx.addIssue({
      code: 'custom',
      path: ['repetitions'],
      message: `${cells.toLocaleString('en-US')} cells (arms x concurrency levels x repetitions); at most ${BOUNDS.cells.toLocaleString('en-US')}`,
    });
  domainIssues(spec, ctx);
});

/** The generator's built-in domains (agent/taskset.ts TAU2_DOMAINS; a test keeps them equal). */
export const TAU2_DOMAIN_NAMES = ['retail', 'telecom', 'airline'] as const;

/**
 * Domains named anywhere must exist: a generator domain is built in or has its own task count
 * (overrides.<d>.tasks); an override or a slot share names a domain the generator runs.
 */
function domainIssues(spec: z.output<typeof specBase>, ctx: z.RefinementCtx): void {
  const g = spec.workload.generator;
  const builtIn: readonly string[] = TAU2_DOMAIN_NAMES;
  const known = `built in: ${builtIn.join(', ')}`;
  const run = g?.domains ?? builtIn;
  g?.domains?.forEach((d, i) => {
    if (!builtIn.includes(d) && g.overrides[d]?.tasks === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['workload', 'generator', 'domains', i],
        message: `unknown domain "${d}" (${known}; or give a custom domain its count: overrides.${d}.tasks)`,
      });
  });
  for (const d of Object.keys(g?.overrides ?? {}))
    if (!run.includes(d))
      ctx.addIssue({
        code: 'custom',
        path: ['workload', 'generator', 'overrides', d],
        message: `domain "${d}" is not generated (domains: ${run.join(', ')})`,
      });
  // task files and traces carry their own domains: only a generator's are known here
  if (g)
    for (const d of Object.keys(spec.agent?.domainSlots ?? {}))
      if (!run.includes(d))
        ctx.addIssue({
          code: 'custom',
          path: ['agent', 'domainSlots', d],
          message: `unknown domain "${d}" (the workload's domains: ${run.join(', ')})`,
        });
}

export type Spec = z.output<typeof specSchema>;
export type LimitsSpec = Spec['limits'];
export type AgentSpec = NonNullable<Spec['agent']>;

/** The agent section of an agent workload's spec (the schema requires it there). */
export function agentOf(spec: Spec): AgentSpec {
  if (!spec.agent) throw new Error('agentOf: the spec has no agent section (a request-stream workload)');
  return spec.agent;
}

export function describeSpec(spec: Spec): string {
  const w = spec.workload;
  const levels = [
    ...(spec.concurrency ? [`C=${spec.concurrency.join('/')}`] : []),
    ...(spec.rates ? [`rate=${spec.rates.join('/')}/s`] : []),
  ].join(' + ');
  const r = w.requests;
  const work = r
    ? `requests (${r.suite ? `suite ${r.suite}` : (r.dataset ?? (r.path ? 'jsonl' : 'random'))}${r.num_prompts ? `, ${r.num_prompts} per cell` : ''})`
    : w.replay
      ? `replay ${shellQuote(w.replay)}`
      : w.tasks
        ? `tasks ${shellQuote(w.tasks)}`
        : `generated tasks (${(w.generator?.domains ?? ['retail', 'telecom', 'airline']).join('/')}${w.generator?.count ? `, ${w.generator.count} tasks` : w.generator?.scale !== 1 ? `, scale ${w.generator?.scale}` : ''})`;
  const arms = spec.arms.map((a) => `${a.name}[${spec.servers[a.servers]?.kind ?? '?'}]`).join(', ');
  return `${spec.name}: ${spec.arms.length} arm(s) ${arms} x ${levels} x ${spec.repetitions} rep(s)${spec.sweep ? ` x sweep (${spec.sweep.mode}${spec.sweep.phases ? `: ${spec.sweep.phases.join(', ')}` : ''})` : ''}, ${work}${spec.agent ? `, orchestrator ${spec.agent.orchestrator}` : ''}, seed ${spec.seed}`;
}

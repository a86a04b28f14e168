/**
 * The spec's `servers` entries (config/spec.ts): sim (with its router), typed vLLM, external
 * endpoints and command processes.
 */
import { z } from 'zod';
import { BOUNDS, count, durationS, list, tokens } from './bounds.js';
import { modelConfigSchema } from './model-config.js';

/** Endpoints: the users' model-config JSON by path, or the same shape inline. */
const endpointsSchema = z.unknown().transform((v, ctx) => {
  // not a z.union: a union reports only "Invalid input" and hides which replica is wrong
  if (typeof v === 'string' && v.length > 0) return v;
  const r = modelConfigSchema.safeParse(v);
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: issue.path } as never);
  return z.NEVER;
});

/**
 * http(s) URLs. Not z.httpUrl(): in zod 4.6 it only accepts domain names and refuses
 * 127.0.0.1 and localhost, which is where every server of ours listens.
 */
export const httpUrl = () => z.url({ protocol: /^https?$/, hostname: z.regexes.hostname });

const processSchema = z.strictObject({
  label: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only (it names the log file)'),
  /** argv array; spawned without a shell */
  argv: list(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  port: z.number().int().min(1).max(65535),
  health: httpUrl().optional(),
});

/**
 * A program-aware router (src/router/) in front of one topology server's replicas: in virtual
 * time in-process on the engines' clock, in real time an HTTP proxy (startRouter) on a free port.
 */
export const simRouterSchema = z.strictObject({
  /** tr = ThunderAgent's capacity rule; kv-threshold = the users' variant (pause >= 0.95, resume < 0.85) */
  mode: z.enum(['tr', 'kv-threshold']).default('tr'),
  /** the topology server (its `name`) the router fronts; default the one named orchestrator */
  serves: z.string().min(1).default('orchestrator'),
  /** scrape + scheduling tick interval (ThunderAgent: 5 s) */
  intervalMs: count(100, BOUNDS.durationS * 1000, 'ms').default(5000),
  placement: z.enum(['best-fit', 'most-room']).default('best-fit'),
  decodeReserveTokens: tokens(0).optional(),
  pauseAt: z.number().gt(0).max(1).optional(),
  resumeBelow: z.number().gt(0).max(1).optional(),
});
export type SimRouterSpec = z.output<typeof simRouterSchema>;

export const simServersSchema = z.strictObject({
  kind: z.literal('sim'),
  /** a topology file (examples/w1-topology.yaml) or the topology inline */
  topology: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  /** applied to every simulated server of the topology */
  overrides: z
    .strictObject({
      /** multiply every modelled step time (< 1: faster than the GPU would be) */
      stepTimeScale: z.number().positive().max(1000).optional(),
      /** a fixed step time in ms instead of the roofline model */
      stepTimeMs: z.number().positive().max(3_600_000, 'at most 3,600,000 ms (one hour a step)').optional(),
      maxModelLen: tokens(16).optional(),
      maxNumSeqs: count(1, BOUNDS.concurrency).optional(),
      /** listen on free ports instead of the topology's (parallel runs, tests) */
      freePorts: z.boolean().optional(),
    })
    .default({}),
  router: simRouterSchema.optional(),
});

/**
 * A typed vLLM server (launch/vllm-recipe.ts VllmServerConfig, vLLM's EngineArgs names): rendered
 * per cell to `vllm serve` argv (engine: vllm) or to `servelab sim` with the same flags
 * (engine: sim; in virtual time the simulated engine in-process). A sweep sets its flags.
 */
export const vllmSettingValue = z.union([z.string(), z.number(), z.boolean()]);
export const VLLM_SWEEPABLE = [
  'tensor_parallel_size',
  'pipeline_parallel_size',
  'data_parallel_size',
  'enable_expert_parallel',
  'all2all_backend',
  'enable_eplb',
  'eplb_num_redundant_experts',
  'max_num_batched_tokens',
  'max_num_seqs',
  'max_model_len',
  'gpu_memory_utilization',
  'block_size',
  'kv_cache_dtype',
  'quantization',
  'enable_prefix_caching',
  'enable_chunked_prefill',
  'max_num_partial_prefills',
  'scheduling_policy',
] as const;
export type VllmSweepable = (typeof VLLM_SWEEPABLE)[number];
const vllmServersSchema = z.strictObject({
  kind: z.literal('vllm'),
  /** vllm: `vllm serve`; sim: `servelab sim` with the same flags (in-process in virtual time) */
  engine: z.enum(['vllm', 'sim']).default('vllm'),
  model: z.string().min(1),
  served_model_name: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
  dp_mode: z.enum(['replicas', 'internal']).optional(),
  tensor_parallel_size: count(1, 1024).optional(),
  pipeline_parallel_size: count(1, 1024).optional(),
  data_parallel_size: count(1, 1024).optional(),
  distributed_executor_backend: z.enum(['ray', 'mp', 'uni', 'external_launcher']).optional(),
  enable_expert_parallel: z.boolean().optional(),
  all2all_backend: z.string().min(1).optional(),
  enable_eplb: z.boolean().optional(),
  eplb_num_redundant_experts: count(0, 4096).optional(),
  max_num_batched_tokens: tokens().optional(),
  max_num_seqs: count(1, BOUNDS.concurrency).optional(),
  max_model_len: tokens(16).optional(),
  gpu_memory_utilization: z.number().gt(0).max(1).optional(),
  block_size: count(1, 1024).optional(),
  kv_cache_dtype: z.string().min(1).optional(),
  quantization: z.string().min(1).optional(),
  enable_prefix_caching: z.boolean().optional(),
  enable_chunked_prefill: z.boolean().optional(),
  max_num_partial_prefills: count(1, 1024).optional(),
  scheduling_policy: z.enum(['fcfs', 'priority']).optional(),
  speculative_config: z.record(z.string(), z.unknown()).optional(),
  chat_template: z.string().min(1).optional(),
  tool_call_parser: z.union([z.string().min(1), z.literal(false)]).optional(),
  extra_args: list(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  /** engine: sim: the simulated GPU profile (knowledge/gpus.ts) */
  gpu: z.string().min(1).optional(),
  /** first port (DP replicas: consecutive ports) */
  port: z.number().int().min(1).max(65535).default(8000),
  /**
   * nodes of one multi-node vLLM (TP x PP = nodes x GPUs per node over Ray): `vllm serve` runs on
   * this machine, the Ray head, against a Ray cluster already up (`servelab sbatch` renders the
   * whole job, head and workers, for SLURM)
   */
  nodes: count(1, 1024).default(1),
  /** GPU indices of this machine the processes get (CUDA_VISIBLE_DEVICES per replica) */
  gpus: list(z.number().int().min(0).max(1023)).optional(),
  /** root of the per-process compile caches (default ~/.cache/servelab/compile; never under /tmp) */
  cache_root: z.string().min(1).optional(),
  /** argv[0] of vllm (default `vllm`) */
  vllm_bin: z.string().min(1).optional(),
  /** the words that start servelab for engine: sim (default [servelab]) */
  servelab_bin: list(z.string().min(1)).min(1).optional(),
  healthTimeoutS: durationS().default(900),
  stopTimeoutS: durationS().default(30),
  /** virtual time (engine: sim): multiply every modelled step time */
  stepTimeScale: z.number().positive().max(1000).optional(),
});
export type VllmServersSpec = z.output<typeof vllmServersSchema>;

export const serversSchema = z.discriminatedUnion('kind', [
  simServersSchema,
  vllmServersSchema,
  z
    .strictObject({
      kind: z.literal('external'),
      endpoints: endpointsSchema.optional(),
      /** or one server by its API base (`http://h:8000/v1`, a gateway's path prefix kept) ... */
      url: httpUrl().optional(),
      /** ... and the model it serves (servelab bench --base-url/--model) */
      model: z.string().min(1).optional(),
    })
    .refine((e) => (e.endpoints === undefined) !== (e.url === undefined), {
      message: 'give endpoints (the model-config shape or its file) or url + model, not both',
    })
    .refine((e) => e.url === undefined || e.model !== undefined, {
      message: 'an external url needs the model it serves: model: <name>',
      path: ['model'],
    }),
  z.strictObject({
    kind: z.literal('command'),
    processes: list(processSchema).min(1),
    endpoints: endpointsSchema,
    healthTimeoutS: durationS().default(900),
    stopTimeoutS: durationS().default(30),
  }),
]);
export type ServersSpec = z.output<typeof serversSchema>;

/**
 * vLLM launch recipes: a typed server config (the settings named as vLLM's EngineArgs, W3's
 * sweep names) rendered to `vllm serve` argv for a given vLLM version (spellings per version in
 * knowledge/vllm-flags.ts), or, with `engine: sim`, to `servelab sim` argv with the same vLLM
 * flag names. Never through a shell: argv arrays and environment maps only.
 *
 * `planServerProcesses` turns one config into its processes: one per DP replica (W1's style, a
 * port each, CUDA_VISIBLE_DEVICES assigned from the GPUs given) or one process with vLLM's own
 * `--data-parallel-size`; each with its own compile caches (TORCHINDUCTOR_CACHE_DIR,
 * VLLM_CACHE_ROOT under a persistent per-user root, never a shared /tmp: W4) and its own log
 * file per port. The result's processes are launch/local.ts ProcessRecipes.
 */
import { isAbsolute, join, normalize } from 'node:path';
import { ServelabError } from '../errors.js';
import { type Pitfall, pitfallsFor, toolParserFor } from '../knowledge/pitfalls.js';
import {
  checkVllmVersion,
  DEFAULT_VLLM_VERSION,
  type RenderedSetting,
  renderSetting,
  type SettingValue,
} from '../knowledge/vllm-flags.js';
import type { ProcessRecipe } from './local.js';

/** The settings a recipe carries, by vLLM's EngineArgs name (knowledge/vllm-flags.ts). */
export interface VllmSettings {
  tensor_parallel_size?: number;
  pipeline_parallel_size?: number;
  data_parallel_size?: number;
  distributed_executor_backend?: 'ray' | 'mp' | 'uni' | 'external_launcher';
  enable_expert_parallel?: boolean;
  all2all_backend?: string;
  enable_eplb?: boolean;
  eplb_num_redundant_experts?: number;
  max_num_batched_tokens?: number;
  max_num_seqs?: number;
  max_model_len?: number;
  gpu_memory_utilization?: number;
  block_size?: number;
  kv_cache_dtype?: string;
  quantization?: string;
  enable_prefix_caching?: boolean;
  enable_chunked_prefill?: boolean;
  max_num_partial_prefills?: number;
  scheduling_policy?: 'fcfs' | 'priority';
  speculative_config?: Record<string, unknown>;
  chat_template?: string;
  seed?: number;
}

export interface VllmServerConfig extends VllmSettings {
  /** `vllm` (default) or `sim`: the simulator, same flags */
  engine?: 'vllm' | 'sim';
  model: string;
  served_model_name?: string;
  /** the vLLM version the argv is rendered for (default DEFAULT_VLLM_VERSION) */
  version?: string;
  /**
   * How data_parallel_size runs: `replicas` (one process and port per replica, W1's style) or
   * `internal` (vLLM's --data-parallel-size behind one port). Default: internal with expert
   * parallelism (EP spans the DP ranks), replicas otherwise.
   */
  dp_mode?: 'replicas' | 'internal';
  /** the tool-call parser; default: the model's from knowledge/pitfalls.ts; false: no tool calls */
  tool_call_parser?: string | false;
  /** words appended to argv as given */
  extra_args?: string[];
  /** extra environment of every process */
  env?: Record<string, string>;
  /** engine: sim only: the simulated GPU profile */
  gpu?: string;
}

/** Settings the simulator honours (the rest are accepted, recorded and reported "not modelled"). */
export const SIM_MODELLED: readonly string[] = [
  'served_model_name',
  'tensor_parallel_size',
  'pipeline_parallel_size',
  'gpu_memory_utilization',
  'max_num_batched_tokens',
  'max_num_seqs',
  'max_model_len',
  'kv_cache_dtype',
  'enable_prefix_caching',
  'block_size',
  'scheduling_policy',
  'seed',
];

/** The version the sim argv is spelled in: every setting as a flag, none as an env variable. */
const SIM_FLAG_VERSION = '0.11.1';

/** Order of the settings in argv (stable, so two renders of one config are byte-equal). */
const SETTING_ORDER: readonly (keyof VllmSettings | 'served_model_name')[] = [
  'served_model_name',
  'tensor_parallel_size',
  'pipeline_parallel_size',
  'data_parallel_size',
  'distributed_executor_backend',
  'enable_expert_parallel',
  'all2all_backend',
  'enable_eplb',
  'eplb_num_redundant_experts',
  'max_model_len',
  'max_num_batched_tokens',
  'max_num_seqs',
  'gpu_memory_utilization',
  'block_size',
  'kv_cache_dtype',
  'quantization',
  'enable_prefix_caching',
  'enable_chunked_prefill',
  'max_num_partial_prefills',
  'scheduling_policy',
  'speculative_config',
  'chat_template',
  'seed',
];

export interface RenderServeOptions {
  port: number;
  host?: string;
  /** argv[0] of `vllm serve` (default `vllm`) */
  vllm?: string;
  /** the words that start servelab, for engine: sim (default ['servelab']) */
  servelab?: string[];
  /** data_parallel_size is not passed (the launcher runs one process per replica) */
  omitDataParallel?: boolean;
  where?: string;
}

export interface RenderedServe {
  argv: string[];
  /** environment a setting needs (VLLM_ALL2ALL_BACKEND before 0.11.1) plus the config's env */
  env: Record<string, string>;
  /** engine: sim: the settings given that the simulator does not model */
  notModelled: string[];
  /** the tool-call parser used, and where it came from */
  toolParser?: { name: string; from: 'config' | 'knowledge' };
  /** the known pitfalls of this version and model (knowledge/pitfalls.ts) */
  pitfalls: Pitfall[];
}

function positive(where: string, key: string, v: number | undefined): number {
  if (v === undefined) return 1;
  if (!Number.isInteger(v) || v < 1)
    throw new ServelabError('BAD_CONFIG', `${where}: ${key} must be an integer >= 1, got ${v}`);
  return v;
}

/** GPUs one replica needs: TP x PP. */
export function gpusPerReplica(cfg: VllmServerConfig, where = 'vllm'): number {
  return (
    positive(where, 'tensor_parallel_size', cfg.tensor_parallel_size) *
    positive(where, 'pipeline_parallel_size', cfg.pipeline_parallel_size)
  );
}

export function dpModeOf(cfg: VllmServerConfig): 'replicas' | 'internal' {
  return cfg.dp_mode ?? (cfg.enable_expert_parallel ? 'internal' : 'replicas');
}

/** `vllm serve` (or `servelab sim`) argv of one process of a config. */
export function renderServe(cfg: VllmServerConfig, o: RenderServeOptions): RenderedServe {
  const where = o.where ?? 'vllm';
  if (typeof cfg.model !== 'string' || cfg.model.length === 0)
    throw new ServelabError('BAD_CONFIG', `${where}: model is required`, {
      hint: 'e.g. model: zai-org/GLM-4.6',
    });
  const engine = cfg.engine ?? 'vllm';
  if (engine !== 'vllm' && engine !== 'sim')
    throw new ServelabError('BAD_CONFIG', `${where}: engine "${String(engine)}" is not vllm or sim`);
  const version = checkVllmVersion(cfg.version ?? DEFAULT_VLLM_VERSION, `${where}: version`);
  const spellAt = engine === 'sim' ? SIM_FLAG_VERSION : version;
  gpusPerReplica(cfg, where);
  const settings: [string, SettingValue][] = [];
  if (cfg.served_model_name !== undefined) settings.push(['served_model_name', cfg.served_model_name]);
  const rec = cfg as unknown as Record<string, SettingValue | undefined>;
  for (const k of SETTING_ORDER) {
    if (k === 'served_model_name') continue;
    if (k === 'data_parallel_size' && (o.omitDataParallel || dpModeOf(cfg) === 'replicas')) continue;
    const v = rec[k];
    if (v !== undefined) settings.push([k, v]);
  }
  const rendered: RenderedSetting[] = settings.map(([k, v]) => renderSetting(k, v, spellAt, where));
  const argv: string[] = [];
  const env: Record<string, string> = {};
  const json = new Map<string, Record<string, unknown>>();
  for (const r of rendered) {
    argv.push(...r.argv);
    Object.assign(env, r.env);
    for (const j of r.json) json.set(j.flag, { ...(json.get(j.flag) ?? {}), [j.key]: j.value });
  }
  for (const [flag, obj] of json) argv.push(flag, JSON.stringify(obj));
  let toolParser: RenderedServe['toolParser'];
  if (cfg.tool_call_parser !== false) {
    const given = cfg.tool_call_parser;
    const name = given ?? toolParserFor(cfg.served_model_name ?? cfg.model) ?? toolParserFor(cfg.model);
    if (given !== undefined && (typeof given !== 'string' || given.length === 0))
      throw new ServelabError('BAD_CONFIG', `${where}: tool_call_parser must be a parser name or false`);
    if (name) {
      toolParser = { name, from: given !== undefined ? 'config' : 'knowledge' };
      argv.push('--enable-auto-tool-choice', ...renderSetting('tool_call_parser', name, spellAt, where).argv);
    }
  }
  for (const a of cfg.extra_args ?? []) {
    if (typeof a !== 'string')
      throw new ServelabError('BAD_CONFIG', `${where}: extra_args must be strings, got ${JSON.stringify(a)}`);
  }
  const notModelled =
    engine === 'sim'
      ? settings
          .map(([k]) => k)
          .concat(toolParser ? ['tool_call_parser'] : [])
          .filter((k) => !SIM_MODELLED.includes(k))
      : [];
  const host = o.host ?? '127.0.0.1';
  const port = String(o.port);
  let head: string[];
  if (engine === 'sim') {
    head = [...(o.servelab ?? ['servelab']), 'sim', '--model', cfg.model];
    if (cfg.gpu) head.push('--gpu', cfg.gpu);
    head.push('--version-string', version);
  } else head = [o.vllm ?? 'vllm', 'serve', cfg.model];
  const full = [...head, '--host', host, '--port', port, ...argv, ...(cfg.extra_args ?? [])];
  return {
    argv: full,
    env: { ...env, ...(cfg.env ?? {}) },
    notModelled,
    ...(toolParser ? { toolParser } : {}),
    pitfalls: pitfallsFor({ server: 'vllm', version, model: cfg.model, tools: toolParser !== undefined }),
  };
}

/** Directories that are shared between users or jobs on cluster nodes (W4): never a cache root. */
const SHARED_TMP = ['/tmp', '/var/tmp', '/dev/shm'];

/**
 * The persistent per-user root of compile caches: `root` when given (with the user's name
 * appended when it is outside the home directory, so users sharing a scratch root do not share
 * caches), else `~/.cache/servelab/compile`. A root under /tmp, /var/tmp or /dev/shm is refused.
 */
export function compileCacheRoot(o: { home: string; user: string; root?: string; where?: string }): string {
  const where = o.where ?? 'cache_root';
  const base = o.root ?? join(o.home, '.cache', 'servelab', 'compile');
  if (!isAbsolute(base))
    throw new ServelabError('BAD_CONFIG', `${where} "${base}" is not an absolute path`, {
      hint: 'give a directory under your home, e.g. ~/.cache/servelab/compile',
    });
  const n = normalize(base);
  for (const t of SHARED_TMP) {
    if (n === t || n.startsWith(`${t}/`))
      throw new ServelabError('BAD_CONFIG', `${where} "${base}" is under ${t}, which compute nodes share`, {
        hint: 'torch.compile caches shared between processes corrupt ("Bytes object is corrupted, checksum does not match"); use a directory under your home',
      });
  }
  const home = normalize(o.home);
  if (o.root === undefined || n === home || n.startsWith(`${home}/`)) return n;
  if (!/^[A-Za-z0-9._-]+$/.test(o.user))
    throw new ServelabError('BAD_CONFIG', `user name "${o.user}" cannot name a cache directory`);
  return join(n, o.user);
}

/** The two cache variables of one process, in its own directory. */
export function compileCacheEnv(processCacheDir: string): Record<string, string> {
  return {
    TORCHINDUCTOR_CACHE_DIR: join(processCacheDir, 'torchinductor'),
    VLLM_CACHE_ROOT: join(processCacheDir, 'vllm'),
  };
}

export interface PlanOptions {
  /** the name of these servers (labels: `<name>-<port>`, logs: `<name>-<port>.log`) */
  name: string;
  basePort: number;
  host?: string;
  /** GPU indices this machine gives the servers (default 0..n-1 for as many as needed) */
  gpus?: readonly number[];
  /** compileCacheRoot's result */
  cacheRoot: string;
  /** the host the processes run on (cache directories are per host and port) */
  hostTag: string;
  vllm?: string;
  servelab?: string[];
  where?: string;
}

export interface PlannedProcess extends ProcessRecipe {
  gpus: number[];
  cacheDir: string;
  logName: string;
}

export interface ServerPlan {
  processes: PlannedProcess[];
  notModelled: string[];
  toolParser?: RenderedServe['toolParser'];
  pitfalls: Pitfall[];
}

/** The processes of one config on one machine: argv, env (caches, GPUs), port, log name. */
export function planServerProcesses(cfg: VllmServerConfig, o: PlanOptions): ServerPlan {
  const where = o.where ?? o.name;
  const dp = positive(where, 'data_parallel_size', cfg.data_parallel_size);
  const mode = dpModeOf(cfg);
  const per = gpusPerReplica(cfg, where);
  const replicas = mode === 'replicas' ? dp : 1;
  const gpusEach = mode === 'replicas' ? per : per * dp;
  const need = replicas * gpusEach;
  const gpus = o.gpus ?? Array.from({ length: need }, (_, i) => i);
  if (gpus.length < need)
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: ${replicas} process(es) x ${gpusEach} GPU(s) need ${need} GPUs, ${gpus.length} given (${gpus.join(',') || 'none'})`,
      { hint: 'lower data_parallel_size / tensor_parallel_size / pipeline_parallel_size, or give more GPUs' },
    );
  if (!Number.isInteger(o.basePort) || o.basePort < 1 || o.basePort + replicas - 1 > 65535)
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: ports ${o.basePort}..${o.basePort + replicas - 1} are not valid`,
    );
  const processes: PlannedProcess[] = [];
  let first: RenderedServe | undefined;
  for (let i = 0; i < replicas; i++) {
    const port = o.basePort + i;
    const r = renderServe(cfg, {
      port,
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.vllm !== undefined ? { vllm: o.vllm } : {}),
      ...(o.servelab !== undefined ? { servelab: o.servelab } : {}),
      omitDataParallel: mode === 'replicas',
      where,
    });
    first ??= r;
    const mine = gpus.slice(i * gpusEach, (i + 1) * gpusEach);
    const label = `${o.name}-${port}`;
    const cacheDir = join(o.cacheRoot, `${o.hostTag}-${port}`);
    processes.push({
      label,
      logName: `${label}.log`,
      argv: r.argv,
      env: { ...r.env, ...compileCacheEnv(cacheDir), CUDA_VISIBLE_DEVICES: mine.join(',') },
      port,
      health: `http://${o.host ?? '127.0.0.1'}:${port}/health`,
      gpus: mine,
      cacheDir,
    });
  }
  return {
    processes,
    notModelled: first?.notModelled ?? [],
    ...(first?.toolParser ? { toolParser: first.toolParser } : {}),
    pitfalls: first?.pitfalls ?? [],
  };
}

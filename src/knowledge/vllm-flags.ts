/**
 * vLLM's `vllm serve` spelling of every engine setting servelab renders, per vLLM version, as
 * data. The settings are named as in vLLM's EngineArgs (snake_case, W3's sweep names); each
 * has one or more spellings, each for a version range. Where a setting moved between versions
 * (an environment variable that became a flag, a flat flag folded into a JSON config) both are
 * here, with where the fact was checked.
 *
 * Checked (2026-12-01) against vLLM's own source and threads, found with the search tools:
 * - `--all2all-backend`: absent from 0.11.0 ("unrecognized arguments: --all2all-backend",
 *   vllm-project/vllm#27347, Oct 2025), a ParallelConfig field and flag later
 *   (vllm/config/parallel.py `all2all_backend: All2AllBackend = "allgather_reducescatter"`);
 *   before it, the environment variable VLLM_ALL2ALL_BACKEND (removed upstream by #33535).
 * - `--num-redundant-experts` folded into `--eplb-config` by vllm-project/vllm#20562 (merged
 *   2025-07, the flat flags kept as deprecated aliases for a while, later removed: #54880 says
 *   main registers only `--enable-eplb` and `--eplb-config`).
 * - `--no-enable-prefix-caching` / `--no-enable-chunked-prefill` (argparse BooleanOptionalAction
 *   of the V1 engine args).
 * Not checked at the release tags themselves (the stored vLLM tree is a 0.7-era arg_utils.py):
 * the exact first release of `--all2all-backend` (taken as 0.11.1), and the exact release that
 * dropped `--num-redundant-experts` (servelab uses `--eplb-config` from 0.11 on, which exists
 * there, and the flat flag before).
 */
import { ServelabError } from '../errors.js';
import { type VersionRange, versionInRange } from './pitfalls.js';

/** The vLLM series servelab knows flag spellings for. */
export const VLLM_SERIES = ['0.9', '0.10', '0.11', 'later'] as const;
export type VllmSeries = (typeof VLLM_SERIES)[number];

/** The version a recipe renders for when none is given (W4's safe choice). */
export const DEFAULT_VLLM_VERSION = '0.11.0';

const VERSION_RE = /^\d+\.\d+(\.\d+)?([.+-][0-9A-Za-z.+-]*)?$/;

/** A version string as servelab compares it, or a clear error naming the input. */
export function checkVllmVersion(version: string, where = 'vllm version'): string {
  if (!VERSION_RE.test(version)) {
    throw new ServelabError('BAD_CONFIG', `${where} "${version}" is not a version like 0.11.0`, {
      hint: `give a vLLM release such as ${DEFAULT_VLLM_VERSION} (the series known: ${VLLM_SERIES.join(', ')})`,
    });
  }
  const [maj, min] = version.split('.').map((x) => Number.parseInt(x, 10));
  if (maj === 0 && (min ?? 0) < 9) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${where} "${version}" predates vLLM 0.9, the oldest series servelab renders`,
      {
        hint: 'render for 0.9 or later (0.11.x is the safe choice)',
      },
    );
  }
  return version;
}

/** The series of a version: 0.9.2 -> '0.9', 0.12.0 / 1.0 -> 'later'. */
export function vllmSeries(version: string): VllmSeries {
  const [maj, min] = checkVllmVersion(version)
    .split('.')
    .map((x) => Number.parseInt(x, 10));
  if (maj === 0 && min === 9) return '0.9';
  if (maj === 0 && min === 10) return '0.10';
  if (maj === 0 && min === 11) return '0.11';
  return 'later';
}

export type SettingValue = string | number | boolean | Record<string, unknown>;

/** How one setting is written for a version range. */
export type Spelling =
  /** `--flag VALUE` (a boolean: `--flag` when true, `negation` or nothing when false) */
  | { versions?: VersionRange; flag: string; negation?: string }
  /** an environment variable of the vLLM process */
  | { versions?: VersionRange; env: string }
  /** one key of a JSON-valued flag (`--eplb-config '{"num_redundant_experts": 32}'`) */
  | { versions?: VersionRange; jsonFlag: string; jsonKey: string };

export interface VllmSetting {
  /** EngineArgs' name */
  key: string;
  type: 'int' | 'float' | 'string' | 'bool' | 'json';
  spellings: readonly Spelling[];
  /** allowed values (strings) */
  choices?: readonly string[];
}

const ALL2ALL_FLAG_SINCE = '0.11.1';

/** Every setting a vLLM recipe may carry, with its spellings per version. */
export const VLLM_SETTINGS: readonly VllmSetting[] = [
  { key: 'served_model_name', type: 'string', spellings: [{ flag: '--served-model-name' }] },
  { key: 'tensor_parallel_size', type: 'int', spellings: [{ flag: '--tensor-parallel-size' }] },
  { key: 'pipeline_parallel_size', type: 'int', spellings: [{ flag: '--pipeline-parallel-size' }] },
  { key: 'data_parallel_size', type: 'int', spellings: [{ flag: '--data-parallel-size' }] },
  {
    key: 'distributed_executor_backend',
    type: 'string',
    choices: ['ray', 'mp', 'uni', 'external_launcher'],
    spellings: [{ flag: '--distributed-executor-backend' }],
  },
  { key: 'enable_expert_parallel', type: 'bool', spellings: [{ flag: '--enable-expert-parallel' }] },
  {
    key: 'all2all_backend',
    type: 'string',
    choices: [
      'naive',
      'allgather_reducescatter',
      'pplx',
      'deepep_high_throughput',
      'deepep_low_latency',
      'flashinfer_all2allv',
    ],
    spellings: [
      { versions: { max: '0.11.0' }, env: 'VLLM_ALL2ALL_BACKEND' },
      { versions: { min: ALL2ALL_FLAG_SINCE }, flag: '--all2all-backend' },
    ],
  },
  { key: 'enable_eplb', type: 'bool', spellings: [{ flag: '--enable-eplb' }] },
  {
    key: 'eplb_num_redundant_experts',
    type: 'int',
    spellings: [
      { versions: { max: '0.10.99' }, flag: '--num-redundant-experts' },
      { versions: { min: '0.11.0' }, jsonFlag: '--eplb-config', jsonKey: 'num_redundant_experts' },
    ],
  },
  { key: 'max_num_batched_tokens', type: 'int', spellings: [{ flag: '--max-num-batched-tokens' }] },
  { key: 'max_num_seqs', type: 'int', spellings: [{ flag: '--max-num-seqs' }] },
  { key: 'max_model_len', type: 'int', spellings: [{ flag: '--max-model-len' }] },
  { key: 'gpu_memory_utilization', type: 'float', spellings: [{ flag: '--gpu-memory-utilization' }] },
  { key: 'block_size', type: 'int', spellings: [{ flag: '--block-size' }] },
  {
    key: 'kv_cache_dtype',
    type: 'string',
    choices: ['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2'],
    spellings: [{ flag: '--kv-cache-dtype' }],
  },
  { key: 'quantization', type: 'string', spellings: [{ flag: '--quantization' }] },
  {
    key: 'enable_prefix_caching',
    type: 'bool',
    spellings: [{ flag: '--enable-prefix-caching', negation: '--no-enable-prefix-caching' }],
  },
  {
    key: 'enable_chunked_prefill',
    type: 'bool',
    spellings: [{ flag: '--enable-chunked-prefill', negation: '--no-enable-chunked-prefill' }],
  },
  { key: 'max_num_partial_prefills', type: 'int', spellings: [{ flag: '--max-num-partial-prefills' }] },
  {
    key: 'scheduling_policy',
    type: 'string',
    choices: ['fcfs', 'priority'],
    spellings: [{ flag: '--scheduling-policy' }],
  },
  { key: 'speculative_config', type: 'json', spellings: [{ flag: '--speculative-config' }] },
  { key: 'tool_call_parser', type: 'string', spellings: [{ flag: '--tool-call-parser' }] },
  { key: 'chat_template', type: 'string', spellings: [{ flag: '--chat-template' }] },
  { key: 'seed', type: 'int', spellings: [{ flag: '--seed' }] },
];

const BY_KEY = new Map(VLLM_SETTINGS.map((s) => [s.key, s]));

export function vllmSetting(key: string): VllmSetting | undefined {
  return BY_KEY.get(key);
}

/** What one setting becomes for a version: argv words, environment, JSON-flag keys. */
export interface RenderedSetting {
  argv: string[];
  env: Record<string, string>;
  json: { flag: string; key: string; value: SettingValue }[];
}

function checkType(s: VllmSetting, value: SettingValue, where: string): void {
  const bad = (want: string) =>
    new ServelabError('BAD_CONFIG', `${where}: ${s.key} must be ${want}, got ${JSON.stringify(value)}`);
  switch (s.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw bad('an integer');
      break;
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad('a number');
      break;
    case 'bool':
      if (typeof value !== 'boolean') throw bad('true or false');
      break;
    case 'string':
      if (typeof value !== 'string' || value.length === 0) throw bad('a non-empty string');
      if (s.choices && !s.choices.includes(value)) throw bad(`one of ${s.choices.join(', ')}`);
      break;
    case 'json':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('an object');
      break;
  }
}

/**
 * One setting as `vllm serve` of that version takes it. Throws (naming the setting, the version
 * and the versions that have it) where the version has no spelling for it.
 */
export function renderSetting(
  key: string,
  value: SettingValue,
  version: string,
  where = 'vllm',
): RenderedSetting {
  const s = BY_KEY.get(key);
  if (!s) {
    throw new ServelabError('BAD_CONFIG', `${where}: ${key} is not a vLLM setting servelab knows`, {
      hint: `known: ${VLLM_SETTINGS.map((x) => x.key).join(', ')}; pass others through extra_args`,
    });
  }
  checkType(s, value, where);
  const sp = s.spellings.find((x) => versionInRange(version, x.versions));
  if (!sp) {
    const ranges = s.spellings
      .map((x) => `${x.versions?.min ?? '0.9'}..${x.versions?.max ?? 'later'}`)
      .join(', ');
    throw new ServelabError('BAD_CONFIG', `${where}: vLLM ${version} has no ${key} (known in ${ranges})`, {
      hint: 'render for a vLLM version that has it, or drop the setting',
    });
  }
  const out: RenderedSetting = { argv: [], env: {}, json: [] };
  if ('env' in sp) out.env[sp.env] = String(value);
  else if ('jsonFlag' in sp) out.json.push({ flag: sp.jsonFlag, key: sp.jsonKey, value });
  else if (s.type === 'bool') {
    if (value === true) out.argv.push(sp.flag);
    else if (sp.negation) out.argv.push(sp.negation);
  } else if (s.type === 'json') out.argv.push(sp.flag, JSON.stringify(value));
  else out.argv.push(sp.flag, String(value));
  return out;
}

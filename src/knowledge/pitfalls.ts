/**
 * Known version pitfalls of serving stacks, as data (shared/WORKFLOWS.md W4, serving-api.md).
 * `check` reports the ones that apply to an endpoint's version, model and use (tools), and
 * recognises a server error message that one of them explains.
 */

export interface VersionRange {
  /** inclusive */
  min?: string;
  /** inclusive */
  max?: string;
}

export interface Pitfall {
  id: string;
  server: 'vllm' | 'sglang';
  versions?: VersionRange;
  /** model ids it concerns (matched against the served name, case-insensitive) */
  model?: RegExp;
  /** only when the endpoint must make tool calls */
  onlyWithTools?: boolean;
  severity: 'error' | 'warn' | 'info';
  message: string;
  hint: string;
  /** a server error message this pitfall explains */
  errorPattern?: RegExp;
}

const GPT_OSS = /gpt-oss/i;
const QWEN3_NEXT = /qwen3-next/i;

export const PITFALLS: readonly Pitfall[] = [
  {
    id: 'vllm-0.12.0-tool-parsers',
    server: 'vllm',
    versions: { min: '0.12.0', max: '0.12.0' },
    onlyWithTools: true,
    severity: 'error',
    message:
      "vLLM 0.12.0: every tool-call parser fails with HTTP 500 (extract_tool_calls() got an unexpected keyword argument 'token_ids')",
    hint: 'serve tool-calling models with vLLM 0.11.x',
    errorPattern: /unexpected keyword argument 'token_ids'/,
  },
  {
    id: 'vllm-no-gpt-oss',
    server: 'vllm',
    versions: { max: '0.10.0' },
    model: GPT_OSS,
    severity: 'error',
    message: 'this vLLM version predates gpt-oss support (0.9.2 lacks gpt-oss)',
    hint: 'use vLLM 0.11.x (0.10.2 or later for the openai tool parser)',
  },
  {
    id: 'vllm-no-qwen3-next',
    server: 'vllm',
    versions: { max: '0.10.1' },
    model: QWEN3_NEXT,
    severity: 'error',
    message: 'this vLLM version predates Qwen3-Next support (0.9.2 lacks Qwen3-Next)',
    hint: 'use vLLM 0.11.x',
  },
  {
    id: 'vllm-gpt-oss-openai-parser',
    server: 'vllm',
    versions: { max: '0.10.1' },
    model: GPT_OSS,
    onlyWithTools: true,
    severity: 'error',
    message: 'gpt-oss tool calls need --tool-call-parser openai, which vLLM has from 0.10.2',
    hint: 'use vLLM >= 0.10.2 (0.11.x) with --enable-auto-tool-choice --tool-call-parser openai',
  },
  {
    id: 'vllm-v0-metric-names-hidden',
    server: 'vllm',
    versions: { min: '0.11.0' },
    severity: 'info',
    message:
      'vllm:gpu_cache_usage_perc and vllm:gpu_prefix_cache_* are hidden from 0.11 and removed in 0.12; scripts must read vllm:kv_cache_usage_perc and vllm:prefix_cache_*',
    hint: 'servelab reads both names; old shell loops grepping gpu_cache_usage_perc record nothing',
  },
];

/** The tool-call parser a model needs in vLLM (WORKFLOWS.md W4), or undefined when unknown. */
export function toolParserFor(model: string): string | undefined {
  if (GPT_OSS.test(model)) return 'openai';
  if (/qwen3|qwen2\.5|nemotron|orchestrator|hermes/i.test(model)) return 'hermes';
  if (/llama-3|llama3/i.test(model)) return 'llama3_json';
  if (/mistral/i.test(model)) return 'mistral';
  return undefined;
}

function cmp(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function versionInRange(version: string, r: VersionRange | undefined): boolean {
  if (!r) return true;
  if (r.min && cmp(version, r.min) < 0) return false;
  if (r.max && cmp(version, r.max) > 0) return false;
  return true;
}

/** The pitfalls that apply to a server. Without a version, only version-free ones apply. */
export function pitfallsFor(q: {
  server: 'vllm' | 'sglang';
  version?: string;
  model?: string;
  tools?: boolean;
}): Pitfall[] {
  return PITFALLS.filter((p) => {
    if (p.server !== q.server) return false;
    if (p.versions && (!q.version || !versionInRange(q.version, p.versions))) return false;
    if (p.model && !(q.model && p.model.test(q.model))) return false;
    if (p.onlyWithTools && !q.tools) return false;
    return true;
  });
}

/** The pitfall a server error message is known to come from. */
export function pitfallForError(message: string): Pitfall | undefined {
  return PITFALLS.find((p) => p.errorPattern?.test(message));
}

/**
 * Speculative-decoding pairs known to work (WORKFLOWS.md W4): the target model, vLLM's
 * `--speculative-config` method, and the draft model (absent: the method uses the target's
 * own heads, e.g. Qwen3-Next's built-in MTP).
 */
export interface SpecDecodePair {
  target: RegExp;
  targetName: string;
  method: string;
  draft?: string;
  numSpeculativeTokens?: number;
}

export const SPEC_DECODE_PAIRS: readonly SpecDecodePair[] = [
  {
    target: /gpt-oss-120b/i,
    targetName: 'openai/gpt-oss-120b',
    method: 'eagle3',
    draft: 'nvidia/gpt-oss-120b-Eagle3-v2',
  },
  {
    target: /gpt-oss-20b/i,
    targetName: 'openai/gpt-oss-20b',
    method: 'eagle3',
    draft: 'RedHatAI/gpt-oss-20b-speculator.eagle3',
  },
  {
    target: QWEN3_NEXT,
    targetName: 'Qwen/Qwen3-Next-80B-A3B',
    method: 'qwen3_next_mtp',
    numSpeculativeTokens: 2,
  },
];

/** The known pair for a target model, or undefined. */
export function specDecodePairFor(model: string): SpecDecodePair | undefined {
  return SPEC_DECODE_PAIRS.find((p) => p.target.test(model));
}

/**
 * The --gpu-memory-utilization our users run speculative decoding with (W4): the draft model's
 * weights, KV cache and activations come out of the same per-GPU budget as the target's.
 */
export const SPEC_DECODE_GPU_MEMORY_UTILIZATION = 0.85;

/** vLLM's default --gpu-memory-utilization. */
export const VLLM_DEFAULT_GPU_MEMORY_UTILIZATION = 0.9;

/**
 * Compile caches every server process must own (W4: two processes on one cache corrupt it,
 * "Bytes object is corrupted, checksum does not match"), with what an unset variable means.
 */
export const COMPILE_CACHE_ENV: readonly { name: string; defaultDir: string }[] = [
  { name: 'TORCHINDUCTOR_CACHE_DIR', defaultDir: '/tmp/torchinductor_<user>' },
  { name: 'VLLM_CACHE_ROOT', defaultDir: '~/.cache/vllm' },
];

/** The vLLM series W4 calls the safe choice for the W1 models. */
export const VLLM_SAFE_SERIES = '0.11.x';

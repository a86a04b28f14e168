/**
 * Server-flag sweeps: W3's five phases as named presets with their value lists, and the three
 * ways of expanding value lists into server configurations (grid, zip, one factor at a time).
 * Pure: the planner (plan.ts) renders each point onto the arm's `kind: vllm` servers.
 */
import type { SweepPhaseName, SweepSpec, VllmSweepable } from '../config/spec.js';
import { ServelabError } from '../errors.js';

export type SweepValue = string | number | boolean;
export type SweepPoint = Partial<Record<VllmSweepable, SweepValue>>;

export interface SweepPhase {
  /** the flags and their values, in W3's order */
  values: Partial<Record<VllmSweepable, SweepValue[]>>;
  /** settings every config of the phase carries (expert_parallel needs EP on) */
  fixed?: SweepPoint;
  /** where the values come from */
  source: string;
}

/** W3 (../shared/WORKFLOWS.md): the users' five phases and their value lists. */
export const SWEEP_PHASES: Record<SweepPhaseName, SweepPhase> = {
  memory_batch: {
    values: {
      gpu_memory_utilization: [0.9, 0.92, 0.95],
      max_num_batched_tokens: [4096, 8192, 16384, 32768],
      max_num_seqs: [64, 128, 256, 512],
      max_model_len: [16384, 32768],
    },
    source: 'W3 memory_batch',
  },
  quantization_caching: {
    values: { kv_cache_dtype: ['auto', 'fp8_e5m2'], enable_prefix_caching: [false, true] },
    source: 'W3 quantization_caching',
  },
  expert_parallel: {
    values: {
      all2all_backend: ['pplx', 'deepep_low_latency', 'deepep_high_throughput'],
      enable_eplb: [false, true],
      eplb_num_redundant_experts: [16, 32],
    },
    fixed: { enable_expert_parallel: true },
    source: 'W3 expert_parallel',
  },
  chunked_prefill: {
    values: { enable_chunked_prefill: [false, true], max_num_partial_prefills: [1, 2, 4] },
    source: 'W3 chunked_prefill',
  },
  scheduler: {
    // W3 says only "scheduler settings": vLLM 0.11's --scheduling-policy is the one it has
    values: { scheduling_policy: ['fcfs', 'priority'] },
    source: 'W3 scheduler (W3 names no values: vLLM 0.11 --scheduling-policy fcfs | priority)',
  },
};

export interface SweepGroup {
  /** the phase name, or `params` for a sweep of the spec's own lists */
  phase: string;
  points: SweepPoint[];
}

function grid(values: [string, SweepValue[]][]): SweepPoint[] {
  let out: SweepPoint[] = [{}];
  for (const [k, vs] of values) out = out.flatMap((p) => vs.map((v) => ({ ...p, [k]: v })));
  return out;
}

function zip(values: [string, SweepValue[]][], where: string): SweepPoint[] {
  const n = values[0]?.[1].length ?? 0;
  const bad = values.find(([, vs]) => vs.length !== n);
  if (bad)
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: sweep.mode zip needs value lists of one length; ${values.map(([k, vs]) => `${k} has ${vs.length}`).join(', ')}`,
      { hint: 'give every list as many values, or use mode: grid (every combination) or ofat' },
    );
  return Array.from({ length: n }, (_, i) => Object.fromEntries(values.map(([k, vs]) => [k, vs[i]])));
}

/**
 * One factor at a time: the base point (each flag at the server's own value, or its list's
 * first value when the server does not set it), then each flag through its other values.
 */
function ofat(values: [string, SweepValue[]][], base: SweepPoint): SweepPoint[] {
  const start: SweepPoint = {};
  for (const [k, vs] of values)
    (start as Record<string, SweepValue>)[k] =
      (base as Record<string, SweepValue>)[k] ?? (vs[0] as SweepValue);
  const out: SweepPoint[] = [start];
  for (const [k, vs] of values)
    for (const v of vs) if (v !== (start as Record<string, SweepValue>)[k]) out.push({ ...start, [k]: v });
  return out;
}

/**
 * The points of a sweep, phase by phase: the spec's params replace a phase's list of that flag;
 * params no chosen phase lists are swept as one more group (`params`).
 */
export function expandSweep(sweep: SweepSpec, base: SweepPoint, where = 'sweep'): SweepGroup[] {
  const params = Object.entries(sweep.params ?? {}) as [string, SweepValue[]][];
  const groups: { phase: string; values: [string, SweepValue[]][]; fixed: SweepPoint }[] = [];
  if (sweep.phases?.length) {
    for (const name of sweep.phases) {
      const ph = SWEEP_PHASES[name];
      const values = (Object.entries(ph.values) as [string, SweepValue[]][]).map(
        ([k, vs]): [string, SweepValue[]] => [k, params.find(([p]) => p === k)?.[1] ?? vs],
      );
      groups.push({ phase: name, values, fixed: ph.fixed ?? {} });
    }
    // the spec's params that no chosen phase lists are a group of their own
    const listed = new Set(sweep.phases.flatMap((n) => Object.keys(SWEEP_PHASES[n].values)));
    const rest = params.filter(([k]) => !listed.has(k));
    if (rest.length) groups.push({ phase: 'params', values: rest, fixed: {} });
  } else if (params.length) groups.push({ phase: 'params', values: params, fixed: {} });
  else
    throw new ServelabError('BAD_CONFIG', `${where}: a sweep needs phases or params`, {
      hint: `e.g. sweep: {phases: [memory_batch]} or sweep: {params: {max_num_batched_tokens: [4096, 8192]}}`,
    });
  return groups.map((g) => {
    const pts =
      sweep.mode === 'zip'
        ? zip(g.values, where)
        : sweep.mode === 'ofat'
          ? ofat(g.values, base)
          : grid(g.values);
    return { phase: g.phase, points: pts.map((p) => ({ ...g.fixed, ...p })) };
  });
}

/** The spec's `sweep` (server-flag sweeps) and `launcher` (SLURM) sections (config/spec.ts). */
import { z } from 'zod';
import { count, durationS, list } from './bounds.js';
import { VLLM_SWEEPABLE, vllmSettingValue } from './spec-servers.js';

/** W3's sweep phases (experiment/sweep.ts SWEEP_PHASES; a test keeps them equal). */
export const SWEEP_PHASE_NAMES = [
  'memory_batch',
  'quantization_caching',
  'expert_parallel',
  'chunked_prefill',
  'scheduler',
] as const;
export type SweepPhaseName = (typeof SWEEP_PHASE_NAMES)[number];

export const sweepSchema = z.strictObject({
  /** grid: every combination; zip: the i-th values together; ofat: one factor at a time from the base */
  mode: z.enum(['grid', 'zip', 'ofat']).default('grid'),
  /** W3's named phases, each with its value lists, expanded one after another */
  phases: list(
    z.enum(SWEEP_PHASE_NAMES, {
      error: (iss) =>
        `unknown sweep phase ${JSON.stringify(iss.input)} (known: ${SWEEP_PHASE_NAMES.join(', ')})`,
    }),
  ).optional(),
  /** vLLM flag -> values (replaces a phase's list of that flag, or sweeps it alone) */
  params: z.partialRecord(z.enum(VLLM_SWEEPABLE), list(vllmSettingValue).min(1)).optional(),
});
export type SweepSpec = z.output<typeof sweepSchema>;

/**
 * Where the cells run: absent, on this machine; `kind: slurm`, every cell of the arms' `kind: vllm`
 * servers is a SLURM job (launch/slurm-launcher.ts): the job starts the servers and runs the
 * benchmark against them, its results land in the shared run directory.
 */
export const slurmLauncherSchema = z.strictObject({
  kind: z.literal('slurm'),
  partition: z.string().min(1).optional(),
  account: z.string().min(1).optional(),
  qos: z.string().min(1).optional(),
  /** sbatch --time, e.g. "02:00:00" */
  time: z.string().min(1).optional(),
  /** nodes of each job (default: the servers' nodes) */
  nodes: count(1, 1024).optional(),
  /** GPUs per node (default: what the recipe needs; 0 for engine: sim) */
  gpusPerNode: count(0, 64).optional(),
  /** known-bad nodes (busy ones found by the jobs are added on retry) */
  exclude: list(z.string().min(1)).optional(),
  /** the environment of every job (NCCL_*, IB, ...) */
  env: z.record(z.string(), z.string()).optional(),
  /** more #SBATCH directives, e.g. --exclusive */
  sbatch: list(z.string().min(1)).optional(),
  /** the words that run servelab on a compute node (default: this node binary and this servelab) */
  servelab: list(z.string().min(1)).min(1).optional(),
  /**
   * cells whose jobs are in the queue (pending or running) at once; one squeue per poll for all
   * of them. 1: one job at a time. Bounded so a typo cannot flood a shared cluster's queue.
   */
  maxJobs: count(1, 256, 'jobs in the queue at once').default(4),
  /** seconds between squeue / scontrol polls */
  pollS: z.number().positive().max(600).default(2),
  /** resubmits of a job that found GPU memory in use on a node (that node excluded) */
  busyRetries: count(0, 10).default(2),
  /** seconds a job may run before servelab cancels it (default: none; SLURM's --time still applies) */
  jobTimeoutS: durationS().optional(),
  /** seconds to wait for the Ray cluster of a multi-node job */
  rayWaitS: durationS().optional(),
});
export type SlurmLauncherSpec = z.output<typeof slurmLauncherSchema>;

/**
 * `servelab bench`'s flags as an experiment spec (config/spec.ts): one arm `bench` on one server
 * (the given --base-url as `kind: external`, or the embedded simulator as `kind: sim`), a
 * `workload.requests` section with every request flag, and the load levels (--request-rate /
 * --max-concurrency, or the --sweep list) as the spec's concurrency and rates. bench runs this
 * spec with the one planner and cell runner (experiment/bench-series.ts); `--print-spec` prints
 * it, so a bench command becomes a spec file for `servelab run` / `sweep`.
 */
import { type Spec, specSchema } from '../../config/spec.js';
import { ServelabError } from '../../errors.js';
import type { ArrivalSpec } from '../../loadgen/arrivals.js';
import type { BenchTimeouts } from '../../loadgen/bench-flags.js';
import type { GoodputSlo } from '../../loadgen/summary.js';
import type { SweepSpec } from '../../loadgen/sweep.js';
import type { WorkloadOptions } from '../../workload/source.js';

/** What the flags say, before the server is known. */
export type BenchSpecFlags = Omit<BenchSpecInput, 'server' | 'api'>;

export interface BenchSpecInput {
  /** the server: its API base and model, or the embedded simulator serving `model` */
  server: { kind: 'external'; base: string; model: string } | { kind: 'sim'; model: string };
  api: 'chat' | 'completions';
  workload: WorkloadOptions;
  numPrompts?: number;
  durationS?: number;
  warmup: number;
  /** a single load level (no sweep) */
  arrivals: ArrivalSpec;
  sweep?: SweepSpec;
  burstiness?: number;
  maxConcurrency?: number;
  stream: boolean;
  minTokens: boolean;
  ignoreEos: boolean;
  temperature?: number;
  extraBody?: Record<string, unknown>;
  headers: Record<string, string>;
  /** where the key came from (never the key itself) */
  apiKey?: { env: string } | { file: string };
  timeouts: BenchTimeouts;
  percentiles: number[];
  goodput?: GoodputSlo;
  workers: number | 'auto';
  graceS: number;
  maxErrorRate: number;
  serverMetrics: boolean;
  metricsIntervalS: number;
  seed: number;
}

/** Load levels of a list of arrival processes: closed loops as concurrencies, the rest as rates. */
function levelsOf(stages: readonly ArrivalSpec[]): {
  concurrency?: number[];
  rates?: (number | 'inf')[];
  constant: boolean;
} {
  const concurrency: number[] = [];
  const rates: (number | 'inf')[] = [];
  let constant = false;
  for (const a of stages) {
    if (a.kind === 'closed') concurrency.push(a.concurrency);
    else if (a.kind === 'burst') rates.push('inf');
    else {
      rates.push(a.ratePerSec);
      if (a.kind === 'constant') constant = true;
    }
  }
  return {
    ...(concurrency.length ? { concurrency } : {}),
    ...(rates.length ? { rates } : {}),
    constant,
  };
}

/** The spec of a bench invocation (validated by the spec's schema: its bounds apply). */
export function benchSpec(b: BenchSpecInput): Spec {
  const w = b.workload;
  const levels =
    b.sweep?.kind === 'list'
      ? levelsOf(b.sweep.stages)
      : b.sweep?.kind === 'auto'
        ? // the automatic sweep's probes; its rates are planned from what they measure
          { concurrency: [1, b.sweep.maxConcurrency], constant: false }
        : levelsOf([b.arrivals]);
  const cap = b.arrivals.kind !== 'closed' ? b.arrivals.maxConcurrency : undefined;
  const server =
    b.server.kind === 'external'
      ? { kind: 'external', url: b.server.base, model: b.server.model }
      : {
          kind: 'sim',
          topology: { servers: [{ name: 'bench', model: b.server.model, port: 8000 }] },
          overrides: { freePorts: true },
        };
  const requests = {
    ...(w.datasetName ? { dataset: w.datasetName } : {}),
    ...(w.suite ? { suite: w.suite } : {}),
    ...(w.datasetPath ? { path: w.datasetPath } : {}),
    ...(b.numPrompts !== undefined ? { num_prompts: b.numPrompts } : {}),
    warmup: b.warmup,
    ...(w.randomInputLen !== undefined ? { input_len: w.randomInputLen } : {}),
    ...(w.randomOutputLen !== undefined ? { output_len: w.randomOutputLen } : {}),
    ...(w.randomRangeRatio !== undefined ? { range_ratio: w.randomRangeRatio } : {}),
    ...(w.inputDist ? { input_dist: w.inputDist } : {}),
    ...(w.outputDist ? { output_dist: w.outputDist } : {}),
    // the prefix dataset's knobs only with it (their flag defaults would be noise in the spec)
    ...(w.datasetName === 'prefix'
      ? {
          ...(w.prefixGroups !== undefined ? { prefix_groups: w.prefixGroups } : {}),
          ...(w.promptsPerGroup !== undefined ? { prompts_per_group: w.promptsPerGroup } : {}),
          ...(w.prefixLen !== undefined ? { prefix_len: w.prefixLen } : {}),
        }
      : {}),
    ...(w.sharegptOutputLen !== undefined ? { sharegpt_output_len: w.sharegptOutputLen } : {}),
    model: b.server.model,
    api: b.api,
    stream: b.stream,
    ignore_eos: b.ignoreEos,
    min_tokens: b.minTokens,
    burstiness: b.burstiness ?? 1,
    ...((cap ?? b.maxConcurrency) !== undefined && levels.rates
      ? { max_concurrency: cap ?? b.maxConcurrency }
      : {}),
    ...(levels.constant ? { arrivals: 'constant' } : {}),
    ...(b.temperature !== undefined ? { temperature: b.temperature } : {}),
    ...(b.extraBody ? { extra_body: b.extraBody } : {}),
    ...(Object.keys(b.headers).length ? { headers: b.headers } : {}),
    ...(b.apiKey ? { apiKey: b.apiKey } : {}),
    ...(b.durationS !== undefined ? { duration_s: b.durationS } : {}),
    ...(b.timeouts.totalS !== null ? { timeoutS: b.timeouts.totalS } : {}),
    first_byte_timeout_s: b.timeouts.firstByteS,
    idle_timeout_s: b.timeouts.idleS,
    percentiles: b.percentiles,
    ...(b.goodput
      ? {
          goodput: {
            ...(b.goodput.ttftMs !== undefined ? { ttft_ms: b.goodput.ttftMs } : {}),
            ...(b.goodput.tpotMs !== undefined ? { tpot_ms: b.goodput.tpotMs } : {}),
            ...(b.goodput.e2elMs !== undefined ? { e2el_ms: b.goodput.e2elMs } : {}),
          },
        }
      : {}),
    workers: b.workers,
    max_error_rate: b.maxErrorRate,
  };
  const raw = {
    name: 'bench',
    seed: b.seed,
    servers: { bench: server },
    arms: [{ name: 'bench', servers: 'bench' }],
    workload: { requests },
    ...(levels.concurrency ? { concurrency: levels.concurrency } : {}),
    ...(levels.rates ? { rates: levels.rates } : {}),
    limits: { graceS: b.graceS },
    metrics: { intervalMs: Math.round(b.metricsIntervalS * 1000), server: b.serverMetrics },
    // bench measures the server as it is: one that is down shows as failed requests
    preflight: { enabled: false },
  };
  const r = specSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(spec)'}: ${i.message}`);
    throw new ServelabError('BAD_FLAG', `these flags do not make a valid run:\n${lines.join('\n')}`, {
      hint: 'each line names the spec key of a flag (servelab bench --help maps them)',
    });
  }
  return r.data;
}

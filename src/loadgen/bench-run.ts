import { mixSeed } from '../random.js';
import type { WorkloadItem } from '../workload/item.js';
import type { ArrivalSpec } from './arrivals.js';
import type { LiveCounters } from './dispatcher.js';
import type { RequestRecord } from './records.js';
import type { RequestTemplate } from './requests.js';
import { runStage, type StageOptions, type StageResult, stagePassThrough } from './run-stage.js';
import type { GoodputSlo } from './summary.js';
import { autoRates, pastSaturation, type SweepSpec } from './sweep.js';
import type { Transport } from './transport.js';

export interface BenchRunOptions {
  items: WorkloadItem[];
  template: RequestTemplate;
  /** a single load level, or a sweep */
  arrivals?: ArrivalSpec;
  sweep?: SweepSpec;
  seed: number;
  numPrompts?: number;
  durationMs?: number;
  warmup?: number;
  workers?: number | 'auto';
  resolveWorkers?: (a: ArrivalSpec) => number;
  transport?: Transport;
  /** virtual time (the in-process simulator's transport) */
  virtual?: StageOptions['virtual'];
  /**
   * The prompts of a later stage, drawn with that stage's seed (stageSeed), so a sweep does not
   * re-send stage 1's prompts to a server whose prefix cache still holds them. Without it every
   * stage sends `items`.
   */
  freshItems?: (seed: number) => WorkloadItem[];
  signal?: AbortSignal;
  graceMs?: number;
  percentiles?: readonly number[];
  goodput?: GoodputSlo;
  onRecord?: (r: RequestRecord) => void;
  /** a stage starts (for progress display); returns that stage's counters */
  onStageStart?: (
    stage: number,
    arrivals: ArrivalSpec,
  ) => LiveCounters | undefined | Promise<LiveCounters | undefined>;
  /** a stage ended; may add to its summary (server metrics) before anything is written */
  onStageEnd?: (res: StageResult) => void | Promise<void>;
}

export interface BenchRunResult {
  stages: StageResult[];
  /** why an automatic sweep stopped before its last planned stage */
  stoppedEarly?: string;
}

/** The workload seed of sweep stage `stage` (0-based): the bench seed for the first, derived for the rest. */
export function stageSeed(seed: number, stage: number): number {
  return stage === 0 ? seed : mixSeed(seed, 0x57a9e, stage);
}

/** Runs one stage, or every stage of a sweep; warm-up only before the first stage. */
export async function runBench(o: BenchRunOptions): Promise<BenchRunResult> {
  const stages: StageResult[] = [];
  const run = async (a: ArrivalSpec): Promise<StageResult> => {
    const stage = stages.length;
    const counters = await o.onStageStart?.(stage, a);
    const res = await runStage({
      items: stage > 0 && o.freshItems ? o.freshItems(stageSeed(o.seed, stage)) : o.items,
      template: o.template,
      arrivals: a,
      seed: o.seed + stage,
      ...(o.numPrompts !== undefined ? { numPrompts: o.numPrompts } : {}),
      ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
      warmup: stage === 0 ? (o.warmup ?? 0) : 0,
      stage,
      workers: o.resolveWorkers ? o.resolveWorkers(a) : 0,
      ...stagePassThrough(o, counters),
    });
    stages.push(res);
    await o.onStageEnd?.(res);
    return res;
  };
  const stopped = () => o.signal?.aborted === true;
  if (!o.sweep) {
    await run(o.arrivals ?? { kind: 'burst' });
    return { stages };
  }
  if (o.sweep.kind === 'list') {
    for (const a of o.sweep.stages) {
      if (stopped()) break;
      await run(a);
    }
    return { stages };
  }
  const sync = await run({ kind: 'closed', concurrency: 1 });
  if (stopped()) return { stages };
  const max = await run({ kind: 'closed', concurrency: o.sweep.maxConcurrency });
  const syncRps = sync.summary.throughput.requestsPerS;
  const maxRps = max.summary.throughput.requestsPerS;
  let prev: number | undefined;
  for (const rate of autoRates(syncRps, maxRps, o.sweep.rates)) {
    if (stopped()) break;
    const res = await run({ kind: 'poisson', ratePerSec: rate });
    const rps = res.summary.throughput.requestsPerS;
    const why = pastSaturation(prev, rps, maxRps);
    if (why) return { stages, stoppedEarly: `stopped after ${res.arrivals}: ${why}` };
    prev = rps;
  }
  return { stages };
}

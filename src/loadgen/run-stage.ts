import { createHttpTransport } from '../client/http-transport.js';
import type { WorkloadItem } from '../workload/item.js';
import { type ArrivalSpec, arrivalOffsetsMs, concurrencyCap, describeArrivals } from './arrivals.js';
import { type DispatchOutcome, type DispatchPlan, dispatch, type LiveCounters } from './dispatcher.js';
import type { RequestRecord } from './records.js';
import { type RequestTemplate, requestFor } from './requests.js';
import { startSelfCheck } from './self-check.js';
import type { SimTransport } from './sim-transport.js';
import { type BenchSummary, type GoodputSlo, summarize } from './summary.js';
import type { Endpoint, Transport } from './transport.js';
import { runSharded } from './workers.js';

export interface StageOptions {
  items: WorkloadItem[];
  template: RequestTemplate;
  /** replicas of the template's model: request i goes to endpoints[i % n] (this thread only) */
  endpoints?: readonly Endpoint[];
  arrivals: ArrivalSpec;
  seed: number;
  /** measured requests (warm-up comes on top); default: one pass over the items */
  numPrompts?: number;
  /** measure for this long instead of a request count */
  durationMs?: number;
  warmup?: number;
  stage?: number;
  /** worker threads; 0 = this thread */
  workers?: number;
  /** for this thread: a transport (HTTP by default) */
  transport?: Transport;
  /** virtual time (the in-process simulator's transport): its clock drives the dispatcher */
  virtual?: Pick<SimTransport, 'now' | 'sleepUntil' | 'drive'>;
  signal?: AbortSignal;
  counters?: LiveCounters;
  onRecord?: (r: RequestRecord) => void;
  graceMs?: number;
  percentiles?: readonly number[];
  goodput?: GoodputSlo;
}

export interface StageResult {
  arrivals: string;
  /** the arrival process itself (a sweep's table reads its rate) */
  spec: ArrivalSpec;
  records: RequestRecord[];
  summary: BenchSummary;
  outcome: DispatchOutcome;
}

/** The stage options a caller (a sweep, a scenario's levels) hands to every stage unchanged. */
export type StagePassThrough = Pick<
  StageOptions,
  'transport' | 'virtual' | 'signal' | 'counters' | 'onRecord' | 'graceMs' | 'percentiles' | 'goodput'
>;

/**
 * Those of `o`'s pass-through options that are set, and the stage's counters if any (an absent
 * one stays absent, not undefined).
 */
export function stagePassThrough(
  o: Omit<StagePassThrough, 'counters'>,
  counters: LiveCounters | undefined,
): StagePassThrough {
  return {
    ...(o.transport ? { transport: o.transport } : {}),
    ...(o.virtual ? { virtual: o.virtual } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(counters ? { counters } : {}),
    ...(o.onRecord ? { onRecord: o.onRecord } : {}),
    ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
    ...(o.percentiles ? { percentiles: o.percentiles } : {}),
    ...(o.goodput ? { goodput: o.goodput } : {}),
  };
}

/** Open-loop schedules are built up front; a duration run gets at most this many arrivals. */
const MAX_SCHEDULED = 5_000_000;

/** Runs one load level (one arrival process) to the end and summarises it. */
export async function runStage(o: StageOptions): Promise<StageResult> {
  const warmup = o.warmup ?? 0;
  const measured = o.durationMs !== undefined ? MAX_SCHEDULED : (o.numPrompts ?? o.items.length);
  const total = warmup + measured;
  const plan: DispatchPlan = {
    arrivals: o.arrivals,
    count: total,
    warmupCount: warmup,
    stage: o.stage ?? 0,
    ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
  };
  if (o.arrivals.kind !== 'closed') {
    plan.offsetsMs = arrivalOffsetsMs(o.arrivals, o.seed, total, o.durationMs ?? Infinity);
    plan.count = plan.offsetsMs.length;
  }
  const records: RequestRecord[] = [];
  const onRecord = (r: RequestRecord) => {
    records.push(r);
    o.onRecord?.(r);
  };
  const check = startSelfCheck();
  let outcome: DispatchOutcome;
  let workerLoops: ReturnType<typeof check.stop>['loops'] = [];
  const cap = concurrencyCap(o.arrivals);
  if ((o.workers ?? 0) > 0) {
    const res = await runSharded(plan, o.workers!, o.items, o.template, {
      onRecord,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.counters ? { counters: o.counters } : {}),
      ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
    });
    outcome = res.outcome;
    workerLoops = res.loops;
  } else {
    const own = o.transport === undefined;
    const transport = o.transport ?? createHttpTransport(cap !== undefined ? { connections: cap } : {});
    const n = o.items.length;
    try {
      const v = o.virtual;
      const run = dispatch(plan, {
        ...(v ? { now: v.now, sleepUntil: v.sleepUntil } : {}),
        transport,
        request: (i) => {
          const item = o.items[i % n]!;
          const eps = o.endpoints;
          const template = eps?.length ? { ...o.template, endpoint: eps[i % eps.length]! } : o.template;
          return { req: requestFor(item, template), item };
        },
        onRecord,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.counters ? { counters: o.counters } : {}),
        ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
      });
      outcome = await (v ? v.drive(run) : run);
    } finally {
      if (own) await transport.close?.();
    }
  }
  const selfCheck = check.stop(workerLoops);
  const arrivals = describeArrivals(o.arrivals);
  const summary = summarize(records, {
    arrivals,
    clientMeanInFlight: outcome.meanInFlight,
    ...(o.arrivals.kind === 'closed' ? { targetConcurrency: o.arrivals.concurrency } : {}),
    selfCheck,
    ...(o.percentiles ? { percentiles: o.percentiles } : {}),
    ...(o.goodput ? { goodput: o.goodput } : {}),
  });
  if (outcome.interrupted)
    summary.warnings.unshift('interrupted: dispatch stopped early; in-flight requests finished or were cut');
  return { arrivals, spec: o.arrivals, records, summary, outcome };
}

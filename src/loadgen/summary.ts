import { DEFAULT_PERCENTILES, type Distribution, describe } from '../analysis/stats.js';
import { peakTokensPerS, type TokenEvent } from './peak.js';
import type { RequestRecord } from './records.js';
import type { SelfCheckReport } from './self-check.js';
import type { ServerMetricsDelta } from './server-metrics.js';
import { DEFINITIONS } from './summary-defs.js';

export interface GoodputSlo {
  ttftMs?: number;
  tpotMs?: number;
  e2elMs?: number;
}

export interface SummaryOptions {
  percentiles?: readonly number[];
  goodput?: GoodputSlo;
  /** the arrival process, described (`poisson@4.00/s`) */
  arrivals?: string;
  /** closed-loop users or a concurrency cap, for the Little's-law check */
  targetConcurrency?: number;
  /** the dispatcher's own time-weighted in-flight mean */
  clientMeanInFlight?: number;
  selfCheck?: SelfCheckReport;
}

export interface LatencySet {
  ttftMs: Distribution;
  ttftFirstChunkMs: Distribution;
  tpotMs: Distribution;
  itlMs: Distribution;
  e2eMs: Distribution;
  e2eWithQueueMs: Distribution;
  scheduleLagMs: Distribution;
}

export interface BenchSummary {
  v: 1;
  arrivals?: string;
  counts: {
    total: number;
    warmup: number;
    measured: number;
    ok: number;
    error: number;
    incomplete: number;
    errorByKind: Record<string, number>;
    incompleteByKind: Record<string, number>;
  };
  windowMs: { start: number; end: number };
  durationS: number;
  throughput: {
    requestsPerS: number;
    inputTokensPerS: number;
    outputTokensPerS: number;
    totalTokensPerS: number;
    /** null: the window is shorter than 1 s (no full second) */
    peakOutputTokensPerS: number | null;
    goodputRequestsPerS?: number;
  };
  tokens: {
    input: number;
    output: number;
    /** prompt tokens the server said it served from its prefix cache (usage.prompt_tokens_details);
     * null when no ok request carried the figure (vLLM sends it only with --enable-prompt-tokens-details) */
    cached: number | null;
    outputIncomplete: number;
    source: Record<string, number>;
  };
  latency: LatencySet;
  goodput?: { slo: GoodputSlo; good: number; requestsPerS: number };
  littleLaw: {
    arrivalRatePerS: number;
    meanLatencyS: number;
    predictedInFlight: number;
    clientMeanInFlight?: number;
    targetConcurrency?: number;
    /** running + waiting from the server's /metrics, when sampled (bench adds it) */
    serverMeanInFlight?: number;
    ratio?: number;
  };
  quirks: Record<string, number>;
  selfCheck?: SelfCheckReport;
  warnings: string[];
  definitions: Record<string, string>;
  /** what the server's own /metrics said over the stage (bench adds it when it could read them) */
  server?: ServerMetricsDelta;
  /** vLLM bench-compatible keys (completed, request_throughput, mean_ttft_ms, p99_ttft_ms, ...) */
  [vllmKey: string]: unknown;
}

/** vLLM writes p99 / p99.9 */
function pWord(p: number): string {
  return String(p);
}

/** Summarises the records of one run (or one sweep stage). Pure and deterministic. */
export function summarize(records: readonly RequestRecord[], opts: SummaryOptions = {}): BenchSummary {
  const pcts = opts.percentiles ?? DEFAULT_PERCENTILES;
  // p50 (vLLM's median_* keys) and p99 (the sweep table) always, whatever --percentiles says
  const allP = [...new Set([...pcts, 50, 99])].sort((a, b) => a - b);
  const measured = records.filter((r) => !r.warmup);
  const ok = measured.filter((r) => r.status === 'ok');
  const errorByKind: Record<string, number> = {};
  const incompleteByKind: Record<string, number> = {};
  let nErr = 0;
  let nInc = 0;
  for (const r of measured) {
    if (r.status === 'error') {
      nErr++;
      const k = r.errorKind ?? 'unknown';
      errorByKind[k] = (errorByKind[k] ?? 0) + 1;
    } else if (r.status === 'incomplete') {
      nInc++;
      const k = r.errorKind ?? 'unknown';
      incompleteByKind[k] = (incompleteByKind[k] ?? 0) + 1;
    }
  }
  let start = Infinity;
  let end = -Infinity;
  for (const r of measured) {
    if (r.scheduledMs < start) start = r.scheduledMs;
    if (r.endMs > end) end = r.endMs;
  }
  if (!Number.isFinite(start)) {
    start = 0;
    end = 0;
  }
  const durationS = Math.max(0, (end - start) / 1000);
  const perS = (x: number) => (durationS > 0 ? x / durationS : 0);

  const ttft: number[] = [];
  const ttft1: number[] = [];
  const tpot: number[] = [];
  const itl: number[] = [];
  const e2e: number[] = [];
  const e2eQ: number[] = [];
  let inputTokens = 0;
  let outputTokens = 0;
  let cached = 0;
  let cachedReported = false;
  const source: Record<string, number> = {};
  const quirks: Record<string, number> = {};
  const tokenEvents: TokenEvent[] = [];
  const slo = opts.goodput;
  let good = 0;
  for (const r of ok) {
    inputTokens += r.promptTokens;
    outputTokens += r.outputTokens;
    if (r.cachedTokens !== undefined) {
      cached += r.cachedTokens;
      cachedReported = true;
    }
    source[r.tokenSource] = (source[r.tokenSource] ?? 0) + 1;
    for (const q of r.quirks ?? []) quirks[q] = (quirks[q] ?? 0) + 1;
    const last = r.lastTokenMs ?? r.endMs;
    const e = last - r.sentMs;
    e2e.push(e);
    // a request sent early (the dispatcher fires up to 1 ms before a due time) waited in no queue
    e2eQ.push(last - Math.min(r.scheduledMs, r.sentMs));
    const t = r.firstTokenMs !== undefined ? r.firstTokenMs - r.sentMs : undefined;
    if (t !== undefined) ttft.push(t);
    if (r.firstChunkMs !== undefined) ttft1.push(r.firstChunkMs - r.sentMs);
    let tp: number | undefined;
    if (r.outputTokens > 1 && r.firstTokenMs !== undefined) {
      tp = (last - r.firstTokenMs) / (r.outputTokens - 1);
      tpot.push(tp);
    }
    const offs = r.chunkOffsetsMs;
    for (let k = 1; k < offs.length; k++) itl.push(offs[k]! - offs[k - 1]!);
    // output tokens in time, for the peak: a request's tokens spread evenly over its chunks
    if (offs.length > 0) {
      const per = r.outputTokens / offs.length;
      for (const o of offs) tokenEvents.push({ atMs: r.sentMs + o - start, tokens: per });
    } else if (r.outputTokens > 0) tokenEvents.push({ atMs: last - start, tokens: r.outputTokens });
    if (slo) {
      const pass =
        (slo.ttftMs === undefined || (t !== undefined && t <= slo.ttftMs)) &&
        (slo.tpotMs === undefined || (tp ?? 0) <= slo.tpotMs) &&
        (slo.e2elMs === undefined || e <= slo.e2elMs);
      if (pass) good++;
    }
  }
  let outputIncomplete = 0;
  for (const r of measured) if (r.status === 'incomplete') outputIncomplete += r.outputTokens;
  const peak = peakTokensPerS(tokenEvents, end - start);
  const lag = measured.map((r) => r.sentMs - r.scheduledMs);

  const latency: LatencySet = {
    ttftMs: describe(ttft, allP),
    ttftFirstChunkMs: describe(ttft1, allP),
    tpotMs: describe(tpot, allP),
    itlMs: describe(itl, allP),
    e2eMs: describe(e2e, allP),
    e2eWithQueueMs: describe(e2eQ, allP),
    scheduleLagMs: describe(lag, allP),
  };

  // Little's law over every finished measured request (any status)
  let latSum = 0;
  for (const r of measured) latSum += r.endMs - r.sentMs;
  const lambda = perS(measured.length);
  const W = measured.length ? latSum / measured.length / 1000 : 0;
  const predicted = lambda * W;
  const reference = opts.targetConcurrency ?? opts.clientMeanInFlight;
  const little: BenchSummary['littleLaw'] = {
    arrivalRatePerS: lambda,
    meanLatencyS: W,
    predictedInFlight: predicted,
    ...(opts.clientMeanInFlight !== undefined ? { clientMeanInFlight: opts.clientMeanInFlight } : {}),
    ...(opts.targetConcurrency !== undefined ? { targetConcurrency: opts.targetConcurrency } : {}),
    ...(reference ? { ratio: predicted / reference } : {}),
  };

  const warnings: string[] = [];
  if (opts.selfCheck?.warning) warnings.push(opts.selfCheck.warning);
  if (nErr + nInc > 0)
    warnings.push(
      `${nErr} errored and ${nInc} incomplete of ${measured.length} requests; they are counted apart and not in the latency figures`,
    );
  const lagP90 = latency.scheduleLagMs.percentiles[90];
  if (lagP90 !== undefined && lagP90 > 50)
    warnings.push(
      `requests were sent late (schedule lag p90 ${lagP90.toFixed(1)} ms): the client or the concurrency cap held them back; see e2eWithQueueMs`,
    );
  if (
    opts.arrivals?.startsWith('closed') &&
    little.ratio !== undefined &&
    little.ratio < 0.9 &&
    // a finite closed loop drains at its end; only a long run must stay near its target
    measured.length >= 10 * (opts.targetConcurrency ?? 0)
  )
    warnings.push(
      `Little's law: ${predicted.toFixed(1)} requests in flight on average, below the ${opts.targetConcurrency} asked for: the client did not keep the load up`,
    );
  const missing = measured.filter((r) => r.status === 'ok' && r.tokenSource !== 'usage').length;
  if (missing > 0)
    warnings.push(
      `${missing} ok responses had no usage block: their output tokens were counted from chunks (usage_missing)`,
    );

  const summary: BenchSummary = {
    v: 1,
    ...(opts.arrivals ? { arrivals: opts.arrivals } : {}),
    counts: {
      total: records.length,
      warmup: records.length - measured.length,
      measured: measured.length,
      ok: ok.length,
      error: nErr,
      incomplete: nInc,
      errorByKind,
      incompleteByKind,
    },
    windowMs: { start, end },
    durationS,
    throughput: {
      requestsPerS: perS(ok.length),
      inputTokensPerS: perS(inputTokens),
      outputTokensPerS: perS(outputTokens),
      totalTokensPerS: perS(inputTokens + outputTokens),
      peakOutputTokensPerS: peak,
      ...(slo ? { goodputRequestsPerS: perS(good) } : {}),
    },
    tokens: {
      input: inputTokens,
      output: outputTokens,
      cached: cachedReported ? cached : null,
      outputIncomplete,
      source,
    },
    latency,
    ...(slo ? { goodput: { slo, good, requestsPerS: perS(good) } } : {}),
    littleLaw: little,
    quirks,
    ...(opts.selfCheck ? { selfCheck: opts.selfCheck } : {}),
    warnings,
    definitions: DEFINITIONS,
  };
  Object.assign(summary, vllmKeys(summary, pcts));
  return summary;
}

/** The keys of vLLM's `bench serve` result JSON, so existing notebooks keep working. */
export function vllmKeys(s: BenchSummary, pcts: readonly number[]): Record<string, number | null> {
  const out: Record<string, number | null> = {
    completed: s.counts.ok,
    failed: s.counts.error + s.counts.incomplete,
    duration: s.durationS,
    total_input_tokens: s.tokens.input,
    total_output_tokens: s.tokens.output,
    request_throughput: s.throughput.requestsPerS,
    request_goodput: s.throughput.goodputRequestsPerS ?? null,
    output_throughput: s.throughput.outputTokensPerS,
    total_token_throughput: s.throughput.totalTokensPerS,
    max_output_tokens_per_s: s.throughput.peakOutputTokensPerS,
  };
  const metrics: [string, Distribution][] = [
    ['ttft', s.latency.ttftMs],
    ['tpot', s.latency.tpotMs],
    ['itl', s.latency.itlMs],
    ['e2el', s.latency.e2eMs],
  ];
  const num = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? null : x);
  for (const [name, d] of metrics) {
    out[`mean_${name}_ms`] = num(d.mean);
    out[`median_${name}_ms`] = num(d.percentiles[50]);
    out[`std_${name}_ms`] = num(d.std);
    for (const p of pcts) out[`p${pWord(p)}_${name}_ms`] = num(d.percentiles[p]);
  }
  return out;
}

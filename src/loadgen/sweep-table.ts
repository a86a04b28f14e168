/** A sweep in words: one line per stage as it starts, and one table of every stage at the end. */
import type { ArrivalSpec } from './arrivals.js';
import type { StageResult } from './run-stage.js';

/** e.g. `poisson 12.81 req/s`, `closed loop, 64 users`, `gamma (burstiness 0.5) 4.00 req/s, at most 64 in flight` */
export function describeStage(a: ArrivalSpec): string {
  const cap =
    a.kind !== 'closed' && a.maxConcurrency !== undefined ? `, at most ${a.maxConcurrency} in flight` : '';
  switch (a.kind) {
    case 'closed':
      return `closed loop, ${a.concurrency} user${a.concurrency === 1 ? '' : 's'}`;
    case 'burst':
      return `all at once${cap}`;
    case 'poisson':
      return `poisson ${a.ratePerSec.toFixed(2)} req/s${cap}`;
    case 'gamma':
      return `gamma (burstiness ${a.burstiness}) ${a.ratePerSec.toFixed(2)} req/s${cap}`;
    case 'constant':
      return `constant ${a.ratePerSec.toFixed(2)} req/s${cap}`;
  }
}

const f = (x: number | undefined | null, d = 2) =>
  x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(d);

/** The server's own figure (its /metrics delta over the stage) when it was read, else the share of
 * prompt tokens the responses said were cached; '-' when neither is known (a vLLM without
 * --enable-prompt-tokens-details and without /metrics says nothing about it). */
function prefixHits(s: StageResult['summary']): string {
  const srv = s.server?.prefixHitRate;
  if (srv !== undefined) return `${(srv * 100).toFixed(1)} %`;
  if (s.tokens.input > 0 && s.tokens.cached !== null)
    return `${((100 * s.tokens.cached) / s.tokens.input).toFixed(1)} %`;
  return '-';
}

/** The cross-stage table: offered load, achieved throughput, TTFT / TPOT p50 and p99, goodput. */
export function formatSweepTable(stages: readonly StageResult[]): string {
  const head = [
    'stage',
    'load',
    'ok/total',
    'req/s',
    'out tok/s',
    'TTFT p50 ms',
    'TTFT p99 ms',
    'TPOT p50 ms',
    'TPOT p99 ms',
    'goodput req/s',
    'prefix hits',
  ];
  const rows = stages.map((st, k) => {
    const s = st.summary;
    return [
      String(k + 1),
      describeStage(st.spec),
      `${s.counts.ok}/${s.counts.measured}`,
      f(s.throughput.requestsPerS),
      f(s.throughput.outputTokensPerS, 1),
      f(s.latency.ttftMs.percentiles[50], 1),
      f(s.latency.ttftMs.percentiles[99], 1),
      f(s.latency.tpotMs.percentiles[50], 1),
      f(s.latency.tpotMs.percentiles[99], 1),
      f(s.throughput.goodputRequestsPerS),
      prefixHits(s),
    ];
  });
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 1 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  return `${[line(head), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}

import type { Distribution } from '../analysis/stats.js';
import type { BenchSummary } from './summary.js';

const W = 50;
const line = (label: string, value: string | number) => `${label.padEnd(41)}${String(value)}`;
const head = (title: string, ch = '-') => {
  const pad = Math.max(0, W - title.length);
  return `${ch.repeat(Math.floor(pad / 2))}${title}${ch.repeat(Math.ceil(pad / 2))}`;
};
const f2 = (x: number | undefined | null) =>
  x === undefined || x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(2);

function dist(lines: string[], short: string, d: Distribution, pcts: readonly number[]): void {
  lines.push(line(`Mean ${short} (ms):`, f2(d.mean)));
  lines.push(line(`Median ${short} (ms):`, f2(d.percentiles[50])));
  for (const p of pcts) if (p !== 50) lines.push(line(`P${p} ${short} (ms):`, f2(d.percentiles[p])));
}

/** The terminal table, laid out like vLLM's "Serving Benchmark Result", plus what vLLM omits. */
export function formatSummaryTable(s: BenchSummary, pcts: readonly number[] = [50, 90, 95, 99]): string {
  const L: string[] = [];
  L.push(head(' Serving Benchmark Result ', '='));
  if (s.arrivals) L.push(line('Arrivals:', s.arrivals));
  L.push(line('Successful requests:', s.counts.ok));
  L.push(line('Failed requests (error):', s.counts.error));
  L.push(line('Incomplete requests:', s.counts.incomplete));
  const kinds = { ...s.counts.errorByKind, ...s.counts.incompleteByKind };
  if (Object.keys(kinds).length > 0)
    L.push(
      line(
        '  by kind:',
        Object.entries(kinds)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      ),
    );
  L.push(line('Benchmark duration (s):', f2(s.durationS)));
  L.push(line('Total input tokens:', s.tokens.input));
  L.push(line('Total generated tokens:', s.tokens.output));
  L.push(line('Request throughput (req/s):', f2(s.throughput.requestsPerS)));
  if (s.goodput) L.push(line('Request goodput (req/s):', f2(s.goodput.requestsPerS)));
  L.push(line('Output token throughput (tok/s):', f2(s.throughput.outputTokensPerS)));
  L.push(line('Peak output token throughput (tok/s):', f2(s.throughput.peakOutputTokensPerS)));
  L.push(line('Total Token throughput (tok/s):', f2(s.throughput.totalTokensPerS)));
  L.push(head('Time to First Token'));
  dist(L, 'TTFT', s.latency.ttftMs, pcts);
  L.push(line('Mean TTFT, first chunk (vLLM) (ms):', f2(s.latency.ttftFirstChunkMs.mean)));
  L.push(head('Time per Output Token (excl. 1st token)'));
  dist(L, 'TPOT', s.latency.tpotMs, pcts);
  L.push(head('Inter-token Latency'));
  dist(L, 'ITL', s.latency.itlMs, pcts);
  L.push(head('End-to-end Latency'));
  dist(L, 'E2EL', s.latency.e2eMs, pcts);
  L.push(line('Mean E2EL incl. client queue (ms):', f2(s.latency.e2eWithQueueMs.mean)));
  L.push(line('P99 schedule lag (ms):', f2(s.latency.scheduleLagMs.percentiles[99])));
  L.push(
    line(
      "Little's law in flight (pred/client):",
      `${f2(s.littleLaw.predictedInFlight)} / ${f2(s.littleLaw.clientMeanInFlight)}`,
    ),
  );
  const srv = s.server;
  if (srv) {
    L.push(head('Server /metrics (during the run)'));
    L.push(line('Preemptions:', srv.preemptions ?? 'n/a'));
    L.push(
      line(
        'Prefix cache hit rate:',
        srv.prefixHitRate !== undefined ? `${(srv.prefixHitRate * 100).toFixed(1)} %` : 'n/a',
      ),
    );
    L.push(
      line(
        'KV cache usage mean / max:',
        srv.kvUsageMean !== undefined
          ? `${(srv.kvUsageMean * 100).toFixed(1)} % / ${(srv.kvUsageMax! * 100).toFixed(1)} %`
          : 'n/a',
      ),
    );
    if (srv.serverMeanInFlight !== undefined)
      L.push(line('Server in flight (running + waiting):', f2(srv.serverMeanInFlight)));
  }
  L.push('='.repeat(W));
  for (const w of s.warnings) L.push(`warning: ${w}`);
  return `${L.join('\n')}\n`;
}

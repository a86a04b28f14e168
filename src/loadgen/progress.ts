import type { LiveCounters } from './dispatcher.js';

/** One progress line: done/total, request and token rates since the start, failures, in flight. */
export function formatProgress(
  c: LiveCounters,
  total: number | undefined,
  elapsedS: number,
  label = '',
): string {
  const rps = elapsedS > 0 ? c.done / elapsedS : 0;
  const tps = elapsedS > 0 ? c.outputTokens / elapsedS : 0;
  const of = total !== undefined && Number.isFinite(total) ? `/${total}` : '';
  return (
    `${label}${c.done}${of} done  ${rps.toFixed(1)} req/s  ${tps.toFixed(0)} tok/s  ` +
    `errors ${c.errors}  incomplete ${c.incomplete}  in flight ${c.inFlight}  ${elapsedS.toFixed(0)}s`
  );
}

/** The scenarios in words: one table per scenario and the verdict lines (terminal output). */
import type { GridResult } from './grid.js';
import type { LevelRow } from './level.js';
import type { RampResult } from './ramp.js';
import type { SloSearchResult } from './slo-search.js';
import type { SoakResult } from './soak.js';

export type ScenarioResult = RampResult | GridResult | SoakResult | SloSearchResult;

const f = (x: number | undefined | null, d = 1) =>
  x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(d);

function table(head: string[], rows: string[][], leftCols = 1): string {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < leftCols ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  return `${[line(head), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}

function levelCells(r: LevelRow, gpu: boolean): string[] {
  return [
    `${r.ok}/${r.measured}`,
    f(r.requestsPerS, 2),
    f(r.outputTokensPerS, 0),
    f(r.ttftP50Ms),
    f(r.ttftP99Ms),
    f(r.tpotP50Ms),
    f(r.tpotP99Ms),
    f(r.meanWaiting),
    f(r.meanKvUsage, 2),
    ...(gpu ? [f(r.gpu?.utilMeanPct, 0), f(r.gpu?.fbUsedMaxMiB, 0)] : []),
  ];
}

const LEVEL_HEAD = [
  'ok/total',
  'req/s',
  'out tok/s',
  'TTFT p50',
  'TTFT p99',
  'TPOT p50',
  'TPOT p99',
  'waiting',
  'KV',
];
const GPU_HEAD = ['GPU util %', 'FB used MiB'];

export function formatScenario(r: ScenarioResult): string {
  switch (r.kind) {
    case 'ramp': {
      const gpu = r.levels.some((l) => l.gpu);
      const rows = r.levels.map((l, k) => [
        l.label,
        ...levelCells(l, gpu),
        l.slo ? (l.slo.ok ? 'met' : 'BROKE') : '-',
        k === r.knee.knee ? 'knee' : k === r.knee.at ? 'saturated' : '',
      ]);
      return (
        table(['level', ...LEVEL_HEAD, ...(gpu ? GPU_HEAD : []), 'SLO', ''], rows) +
        `ramp: ${r.knee.reason}\nrule: ${r.rules}\nlatencies in ms; waiting and KV: the server's mean over the level\n`
      );
    }
    case 'grid': {
      const gpu = r.cells.some((c) => c.row?.gpu);
      const rows = r.cells.map((c) => [
        String(c.promptTokens),
        String(c.outputTokens),
        ...(c.row ? levelCells(c.row, gpu) : [...LEVEL_HEAD, ...(gpu ? GPU_HEAD : [])].map(() => '-')),
        c.skipped ? 'skipped' : c.slo ? (c.slo.ok ? 'SLO met' : 'SLO BROKE') : '',
      ]);
      const notes = r.cells
        .filter((c) => c.skipped)
        .map((c) => `skipped ${c.promptTokens} x ${c.outputTokens}: ${c.skipped}`);
      return (
        table(['prompt', 'output', ...LEVEL_HEAD, ...(gpu ? GPU_HEAD : []), ''], rows, 0) +
        `grid: ${r.arrivals}, ${r.requestsPerCell} requests per cell; max_model_len ${r.maxModelLen ?? 'unknown'}\n` +
        notes.map((n) => `${n}\n`).join('')
      );
    }
    case 'soak': {
      const rows = r.slices.map((s, k) => [
        `${f(s.startS, 0)}-${f(s.endS, 0)}${k < r.warmupSlices ? ' (warm-up)' : ''}`,
        String(s.ok),
        String(s.notOk),
        f(s.outputTokensPerS, 0),
        f(s.ttftP50Ms),
        f(s.tpotP50Ms),
        f(s.e2eP50Ms, 0),
        f(s.kvUsage, 3),
        f(s.waiting),
        s.preemptions === undefined ? '-' : String(s.preemptions),
        f(s.heapUsedMiB, 0),
      ]);
      return (
        table(
          [
            'slice s',
            'ok',
            'not ok',
            'out tok/s',
            'TTFT p50',
            'TPOT p50',
            'E2E p50',
            'KV',
            'waiting',
            'preempt',
            'heap MiB',
          ],
          rows,
        ) +
        (r.load
          ? `soak load from a ramp first (${r.load.ramp.levels.map((l) => `${l.label} ${f(l.outputTokensPerS, 0)} tok/s`).join(', ')}): ${r.load.ramp.knee.reason}; soaked at ${r.load.why}\n`
          : '') +
        `soak verdict: ${r.verdict.toUpperCase()}: ${r.why}\n` +
        r.series.map((s) => `  [${s.group}] ${s.evidence}\n`).join('') +
        `rule: ${r.rules}\n`
      );
    }
    case 'slo': {
      const gpu = r.levels.some((l) => l.gpu);
      const rows = r.levels.map((l) => [
        l.label,
        ...levelCells(l, gpu),
        l.slo.ok ? 'met' : `BROKE (${l.slo.why})`,
        l === r.best ? 'best' : l === r.next ? 'next' : '',
      ]);
      const answer = r.best
        ? `highest load meeting ${r.slo.join(', ')}: ${r.best.label}${r.next ? `; ${r.next.label} breaks it` : ''}`
        : `no load met ${r.slo.join(', ')}`;
      return (
        table(['level (in order run)', ...LEVEL_HEAD, ...(gpu ? GPU_HEAD : []), 'SLO', ''], rows) +
        `slo search: ${answer} (${r.ended})\n`
      );
    }
  }
}

/**
 * Load scenarios in the report: a bench run whose summary.json carries a grid scenario gets a
 * table of its cells and heatmaps (prompt x output length) of output tok/s and TTFT p50; a
 * skipped cell (over max_model_len) is drawn grey with the word "skipped".
 */
import type { TopLevelSpec } from 'vega-lite';
import type { BenchRunInput } from '../analysis/run-types.js';
import type { GridResult } from '../loadgen/scenarios/grid.js';
import type { Chart } from './charts.js';
import { fmt, type Table } from './table.js';

export interface GridReport {
  run: string;
  grid: GridResult;
}

/** The grid scenarios among bench runs (their summary.json's `scenario`). */
export function gridReports(runs: readonly BenchRunInput[]): GridReport[] {
  const out: GridReport[] = [];
  for (const r of runs) {
    const sc = r.summary?.scenario as { kind?: string; cells?: unknown } | undefined;
    if (sc?.kind === 'grid' && Array.isArray(sc.cells))
      out.push({ run: r.dir.split(/[\\/]/).filter(Boolean).pop() ?? r.dir, grid: sc as GridResult });
  }
  return out;
}

export function gridTable(g: GridResult): Table {
  return {
    headers: [
      'prompt tokens',
      'output tokens',
      'ok/total',
      'req/s',
      'out tok/s',
      'TTFT p50 ms',
      'TTFT p99 ms',
      'TPOT p50 ms',
      'TPOT p99 ms',
      'note',
    ],
    numeric: [true, true, true, true, true, true, true, true, true, false],
    rows: g.cells.map((c) => {
      const r = c.row;
      return [
        String(c.promptTokens),
        String(c.outputTokens),
        r ? `${r.ok}/${r.measured}` : '-',
        fmt(r?.requestsPerS),
        fmt(r?.outputTokensPerS),
        fmt(r?.ttftP50Ms),
        fmt(r?.ttftP99Ms),
        fmt(r?.tpotP50Ms),
        fmt(r?.tpotP99Ms),
        c.skipped ? `skipped: ${c.skipped}` : c.slo ? (c.slo.ok ? 'SLO met' : `SLO broke: ${c.slo.why}`) : '',
      ];
    }),
  };
}

export function gridHeatmap(id: string, g: GridResult, metric: 'outputTokensPerS' | 'ttftP50Ms'): Chart {
  const title = metric === 'outputTokensPerS' ? 'output tok/s' : 'TTFT p50 ms';
  const values = g.cells.map((c) => {
    const v = c.row ? c.row[metric] : null;
    return {
      prompt: String(c.promptTokens),
      output: String(c.outputTokens),
      value: v,
      label: c.skipped ? 'skipped' : v === null ? '-' : fmt(v),
    };
  });
  const order = (xs: number[]) => xs.map(String);
  return {
    id,
    title: `Grid: ${title} by prompt x output length`,
    caption: `${g.arrivals}, ${g.requestsPerCell} requests per cell (ok requests only); grey: skipped (prompt + output over max_model_len ${g.maxModelLen ?? '?'}).`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: Math.max(160, 90 * g.outputs.length),
      height: Math.max(120, 40 * g.prompts.length),
      data: { values },
      encoding: {
        x: { field: 'output', type: 'ordinal', title: 'output tokens', sort: order(g.outputs) },
        y: { field: 'prompt', type: 'ordinal', title: 'prompt tokens', sort: order(g.prompts) },
      },
      layer: [
        { mark: { type: 'rect', color: '#ddd' } },
        {
          transform: [{ filter: 'datum.value !== null' }],
          mark: 'rect',
          encoding: {
            color: {
              field: 'value',
              type: 'quantitative',
              title,
              scale: { scheme: metric === 'outputTokensPerS' ? 'greens' : 'oranges' },
            },
          },
        },
        { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'label', type: 'nominal' } } },
      ],
    } as TopLevelSpec,
  };
}

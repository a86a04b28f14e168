/**
 * Charts as vega-lite specs, rendered to SVG strings here (no browser, no canvas, no network),
 * so the HTML report, the Markdown + SVG files and a terminal workflow show the same pictures.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Chart {
  id: string;
  title: string;
  /** what the chart shows, in one or two sentences (printed under it) */
  caption: string;
  spec: TopLevelSpec;
}

const CONFIG = {
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
};

let counter = 0;

/** Renders a vega-lite spec to a standalone SVG string; element ids are made unique per chart. */
export async function renderSvg(spec: TopLevelSpec, idPrefix = `c${++counter}`): Promise<string> {
  const vg = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg
      .replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${idPrefix}-${id}"`)
      .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${idPrefix}-${id})`);
  } finally {
    view.finalize();
  }
}

export interface KvPoint {
  tS: number;
  value: number;
}

export function kvChart(
  id: string,
  title: string,
  points: readonly KvPoint[],
  window: { startS: number; endS: number } | null,
  threshold: number,
): Chart {
  const layers: unknown[] = [];
  if (window)
    layers.push({
      data: { values: [{ start: window.startS, end: window.endS, label: 'active window' }] },
      mark: { type: 'rect', color: '#f5b041', opacity: 0.25 },
      encoding: { x: { field: 'start', type: 'quantitative' }, x2: { field: 'end' } },
    });
  layers.push(
    {
      data: { values: [{ y: threshold }] },
      mark: { type: 'rule', color: '#c0392b', strokeDash: [4, 3] },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    },
    {
      data: { values: points.map((p) => ({ t: p.tS, kv: p.value })) },
      mark: { type: 'line', color: '#1f77b4', strokeWidth: 1.2 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 's since first dispatch' },
        y: { field: 'kv', type: 'quantitative', title: 'KV usage (0-1)', scale: { domain: [0, 1] } },
      },
    },
  );
  return {
    id,
    title,
    caption: window
      ? `KV-cache usage on the chosen port; shaded: the active window (first to last sample above ${threshold}); dashed: the threshold.`
      : `KV-cache usage on the chosen port; no active window (never above ${threshold}); dashed: the threshold.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 520,
      height: 150,
      layer: layers,
    } as TopLevelSpec,
  };
}

export interface ThroughputPoint {
  window: string;
  arm: string;
  concurrency: number;
  mean: number;
  lo: number | null;
  hi: number | null;
  n: number;
}

export function throughputChart(
  id: string,
  title: string,
  metricLabel: string,
  points: readonly ThroughputPoint[],
): Chart {
  return {
    id,
    title,
    caption: `${metricLabel} per concurrency and arm, per window kind: the mean over repetitions; bars: its 95 % confidence interval (Student t), absent with one repetition (shape "n=1": no confidence can be given).`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values: points.map((p) => ({ ...p, reps: p.n === 1 ? 'n=1' : `n>=2` })) },
      facet: { column: { field: 'window', type: 'nominal', title: 'window' } },
      spec: {
        width: 220,
        height: 170,
        layer: [
          {
            mark: { type: 'errorbar', thickness: 1.5 },
            encoding: {
              x: { field: 'concurrency', type: 'ordinal', title: 'concurrency C' },
              xOffset: { field: 'arm', type: 'nominal' },
              y: { field: 'lo', type: 'quantitative', title: metricLabel },
              y2: { field: 'hi' },
              color: { field: 'arm', type: 'nominal' },
            },
          },
          {
            mark: { type: 'point', filled: true, size: 45 },
            encoding: {
              x: { field: 'concurrency', type: 'ordinal', title: 'concurrency C' },
              xOffset: { field: 'arm', type: 'nominal' },
              y: { field: 'mean', type: 'quantitative', title: metricLabel },
              color: { field: 'arm', type: 'nominal' },
              shape: { field: 'reps', type: 'nominal', title: 'repetitions' },
            },
          },
        ],
      },
    } as TopLevelSpec,
  };
}

export interface CdfPoint {
  arm: string;
  cell: string;
  concurrency: number;
  tS: number;
  p: number;
}

export function cdfChart(id: string, points: readonly CdfPoint[]): Chart {
  return {
    id,
    title: 'Task completion time CDF',
    caption:
      'Fraction of ok tasks finished within t seconds of getting their slot, per concurrency; one line per cell.',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values: points },
      facet: {
        column: {
          field: 'concurrency',
          type: 'ordinal',
          title: null,
          header: { labelExpr: "'C=' + datum.value" },
        },
      },
      spec: {
        width: 220,
        height: 170,
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'tS', type: 'quantitative', title: 'task completion time, s' },
          y: { field: 'p', type: 'quantitative', title: 'fraction of tasks', scale: { domain: [0, 1] } },
          color: { field: 'arm', type: 'nominal' },
          detail: { field: 'cell', type: 'nominal' },
        },
      },
    } as TopLevelSpec,
  };
}

export interface LatencyPoint {
  run: string;
  x: number;
  metric: string;
  percentile: string;
  valueMs: number;
}

export function latencyChart(id: string, xTitle: string, points: readonly LatencyPoint[]): Chart {
  return {
    id,
    title: 'Latency percentiles against load',
    caption:
      'TTFT, TPOT and E2E percentiles (ok requests) at each rate / stage; one line style per configuration (a sweep run, or the one-rate runs sharing the parameters that vary).',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values: points },
      facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['TTFT', 'TPOT', 'E2E'] } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: 200,
        height: 170,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: xTitle },
          y: { field: 'valueMs', type: 'quantitative', title: 'ms' },
          color: { field: 'percentile', type: 'nominal', sort: ['p50', 'p90', 'p95', 'p99'] },
          strokeDash: { field: 'run', type: 'nominal', title: 'configuration', legend: { labelLimit: 320 } },
          shape: { field: 'run', type: 'nominal', title: 'configuration', legend: { labelLimit: 320 } },
        },
      },
    } as TopLevelSpec,
  };
}

export interface ParetoPoint {
  run: string;
  x: number;
  y: number;
  optimal: boolean;
}

export function paretoChart(
  id: string,
  xTitle: string,
  yTitle: string,
  points: readonly ParetoPoint[],
): Chart {
  const frontier = points.filter((p) => p.optimal).sort((a, b) => a.x - b.x);
  return {
    id,
    title: 'Pareto frontier',
    caption: `Every run; Pareto-optimal runs (no other run is better on both ${xTitle} and ${yTitle}) in red, joined.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 460,
      height: 260,
      layer: [
        {
          data: { values: points.map((p) => ({ ...p, kind: p.optimal ? 'Pareto-optimal' : 'dominated' })) },
          mark: { type: 'point', filled: true, size: 50 },
          encoding: {
            x: { field: 'x', type: 'quantitative', title: xTitle },
            y: { field: 'y', type: 'quantitative', title: yTitle },
            color: {
              field: 'kind',
              type: 'nominal',
              scale: { domain: ['Pareto-optimal', 'dominated'], range: ['#d62728', '#999999'] },
              title: null,
            },
          },
        },
        {
          data: { values: frontier },
          mark: { type: 'line', color: '#d62728' },
          encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
        },
      ],
    } as TopLevelSpec,
  };
}

export interface ParamPoint {
  run: string;
  /** the parameter's value (a number, or a label such as fp8) */
  value: string;
  metric: number;
}

/**
 * A swept parameter against one metric (`--compare-param NAME --metric M`): every run a point at
 * its value, the mean per value joined; numeric values on a linear axis, others as categories.
 */
export function paramChart(id: string, param: string, metric: string, points: readonly ParamPoint[]): Chart {
  const numeric = points.every((p) => Number.isFinite(Number(p.value)));
  const x = numeric
    ? { field: 'x', type: 'quantitative', title: param, scale: { zero: false } }
    : { field: 'x', type: 'nominal', title: param, sort: null };
  const values = points.map((p) => ({ ...p, x: numeric ? Number(p.value) : p.value }));
  return {
    id,
    title: `${param} vs ${metric}`,
    caption: `Each run at its ${param}; the line joins the mean ${metric} per value.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 460,
      height: 240,
      data: { values },
      layer: [
        {
          mark: { type: 'point', filled: true, size: 50, color: '#1f77b4' },
          encoding: { x, y: { field: 'metric', type: 'quantitative', title: metric } },
        },
        {
          mark: { type: 'line', color: '#1f77b4' },
          encoding: { x, y: { aggregate: 'mean', field: 'metric', type: 'quantitative', title: metric } },
        },
      ],
    } as TopLevelSpec,
  };
}

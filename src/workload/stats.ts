import { type Distribution, describe } from '../analysis/stats.js';
import type { WorkloadItem } from './item.js';

export interface DatasetStats {
  count: number;
  promptTokens: Distribution;
  outputTokens: Distribution;
  /** items per length class / prefix group when the dataset has them */
  classes: Record<string, number>;
}

export function datasetStats(items: readonly WorkloadItem[]): DatasetStats {
  const classes: Record<string, number> = {};
  for (const it of items) {
    const key = it.class ?? (it.group !== undefined ? `group ${it.group}` : undefined);
    if (key) classes[key] = (classes[key] ?? 0) + 1;
  }
  return {
    count: items.length,
    promptTokens: describe(items.map((i) => i.promptTokens)),
    outputTokens: describe(items.map((i) => i.outputTokens)),
    classes,
  };
}

export function formatDatasetStats(s: DatasetStats): string {
  const row = (name: string, d: Distribution) =>
    `${name.padEnd(14)} mean ${d.mean.toFixed(1).padStart(8)}  std ${d.std.toFixed(1).padStart(8)}  min ${String(d.min).padStart(6)}  p50 ${d.percentiles[50]!.toFixed(0).padStart(6)}  p99 ${d.percentiles[99]!.toFixed(0).padStart(6)}  max ${String(d.max).padStart(6)}`;
  const lines = [
    `prompts: ${s.count}`,
    row('prompt tokens', s.promptTokens),
    row('output tokens', s.outputTokens),
  ];
  const cls = Object.entries(s.classes);
  if (cls.length > 0 && cls.length <= 20)
    lines.push(`classes: ${cls.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

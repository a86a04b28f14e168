import { ServelabError } from '../errors.js';
import { parseParetoSpec } from './aggregate.js';
import type { AnalyzeOptions } from './cell-summary.js';
import { parseKvEngine } from './kv-window.js';
import { parseWindowSpec } from './windows.js';

/** The --kv-engine flag's help, the same in analyze, compare and report. */
export const KV_ENGINE_HELP =
  "which KV series of a port with several engines (vLLM data parallel) defines the active window: max (per sample, the fullest engine), combined (the port's row: used / total blocks) or an engine number";

/** --threshold / --port / --window / --kv-engine shared by analyze, compare and report. */
export function analyzeOptions(o: {
  threshold?: string;
  port?: string;
  window?: string;
  kvEngine?: string;
}): AnalyzeOptions {
  const out: AnalyzeOptions = {};
  if (o.threshold !== undefined) {
    const t = Number(o.threshold);
    if (!(t >= 0 && t < 1))
      throw new ServelabError('BAD_FLAG', `--threshold ${o.threshold} is not a KV-usage fraction in [0, 1)`, {
        hint: 'KV usage is a 0-1 fraction: --threshold 0.7 means 70 %',
      });
    out.threshold = t;
  }
  if (o.port !== undefined) {
    const p = Number(o.port);
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new ServelabError('BAD_FLAG', `--port ${o.port} is not a port number`);
    out.port = p;
  }
  if (o.window !== undefined) {
    const w = parseWindowSpec(o.window);
    if (!w)
      throw new ServelabError('BAD_FLAG', `--window ${o.window} is not a window`, {
        hint: 'offsets from the first dispatch, e.g. --window 600s..7800s or --window 10m..70m',
      });
    out.window = w;
  }
  if (o.kvEngine !== undefined) {
    const e = parseKvEngine(o.kvEngine);
    if (e === undefined)
      throw new ServelabError(
        'BAD_FLAG',
        `--kv-engine ${o.kvEngine} is not max, combined or an engine number`,
        {
          hint: 'e.g. --kv-engine max (default), --kv-engine combined, --kv-engine 1',
        },
      );
    out.kvEngine = e;
  }
  return out;
}

export function paretoOption(text: string | undefined) {
  if (text === undefined) return undefined;
  const p = parseParetoSpec(text);
  if (!p)
    throw new ServelabError('BAD_FLAG', `--pareto ${text} is not two metrics with directions`, {
      hint: 'e.g. --pareto output_throughput_tok_s:max,ttft_p95_ms:min',
    });
  return p;
}

/** Parsing of the planner's user input: prices (--price, --price-file) and SLOs (--slo). */
import { ServelabError } from '../errors.js';
import { findGpu, GPUS } from '../knowledge/gpus.js';
import { GPU_PRICES } from '../knowledge/prices.js';
import type { PriceEntry, Slo } from './plan.js';

const PRICE_HINT = 'write GPU=USD per GPU-hour, e.g. --price H100-NVL=2.59/h';
export const MAX_USD_PER_GPU_HOUR = 1000;

/** The built-in table, keyed by GPU profile name. */
export function defaultPrices(): Map<string, PriceEntry> {
  return new Map(
    GPU_PRICES.map((p) => [
      p.gpu,
      { usdPerGpuHour: p.usdPerGpuHour, source: `${p.provider}, ${p.source}, as of ${p.asOf}` },
    ]),
  );
}

/** One `GPU=2.59/h` (also `GPU=2.59`, `GPU: 2.59 /h`); `where` names the flag or file line. */
export function parsePrice(text: string, where: string): { gpu: string; usdPerGpuHour: number } {
  const m = /^\s*([^=:]+?)\s*[=:]\s*\$?\s*([0-9]*\.?[0-9]+)\s*(?:\/\s*h(?:our|r)?)?\s*$/i.exec(text);
  if (!m) {
    throw new ServelabError('BAD_FLAG', `${where} "${text}" is not GPU=USD/h`, { hint: PRICE_HINT });
  }
  const gpu = findGpu(m[1]!);
  if (!gpu) {
    throw new ServelabError('BAD_FLAG', `${where}: unknown GPU "${m[1]}"`, {
      hint: `known GPUs: ${GPUS.map((g) => g.name).join(', ')}`,
    });
  }
  const usd = Number(m[2]);
  if (!(usd > 0 && usd <= MAX_USD_PER_GPU_HOUR)) {
    throw new ServelabError(
      'BAD_FLAG',
      `${where}: price ${m[2]} must be > 0 and <= ${MAX_USD_PER_GPU_HOUR} USD per GPU-hour`,
      {
        hint: PRICE_HINT,
      },
    );
  }
  return { gpu: gpu.name, usdPerGpuHour: usd };
}

/**
 * A price file: JSON ({"H100-NVL": 2.59, "H200": "4.59/h"}) or text, one GPU=USD/h a line
 * (# comments and blank lines ignored).
 */
export function parsePriceFile(text: string, path: string): { gpu: string; usdPerGpuHour: number }[] {
  const t = text.trim();
  if (t.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(t);
    } catch (e) {
      throw new ServelabError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`, {
        hint: 'write {"H100-NVL": 2.59} or one GPU=USD/h per line',
      });
    }
    return Object.entries(obj as Record<string, unknown>).map(([k, v]) =>
      parsePrice(`${k}=${String(v)}`, `${path}: "${k}"`),
    );
  }
  const out: { gpu: string; usdPerGpuHour: number }[] = [];
  t.split('\n').forEach((line, i) => {
    const l = line.replace(/#.*/, '').trim();
    if (l) out.push(parsePrice(l, `${path}:${i + 1}`));
  });
  return out;
}

const SLO_HINT = 'write e.g. --slo "ttft:P99<2000ms,tpot:P99<50ms" (or ttft:2000,tpot:50; p99, milliseconds)';

/** `ttft:P99<2000ms,tpot:P99<50ms` or `ttft:2000,tpot:50` (p99 in ms; the planner reports p99). */
export function parseSlo(text: string): Slo {
  const slo: Slo = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(ttft|tpot)\s*:\s*(?:p(\d+)\s*<=?\s*)?([0-9]*\.?[0-9]+)\s*(ms|s)?$/i.exec(part);
    if (!m) throw new ServelabError('BAD_FLAG', `--slo "${part}" is not metric:P99<Nms`, { hint: SLO_HINT });
    if (m[2] !== undefined && m[2] !== '99') {
      throw new ServelabError('BAD_FLAG', `--slo "${part}": only P99 is planned for`, { hint: SLO_HINT });
    }
    const ms = Number(m[3]) * (m[4]?.toLowerCase() === 's' ? 1000 : 1);
    if (!(ms > 0 && ms <= 3_600_000)) {
      throw new ServelabError('BAD_FLAG', `--slo "${part}": the bound must be > 0 and <= 1 h`, {
        hint: SLO_HINT,
      });
    }
    if (m[1]!.toLowerCase() === 'ttft') slo.ttftP99Ms = ms;
    else slo.tpotP99Ms = ms;
  }
  return slo;
}

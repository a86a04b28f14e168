/**
 * `--scenario grid`: prompt length x output length, one stage per cell with fixed lengths. A
 * cell whose prompt + output exceeds the server's max_model_len is skipped with the reason
 * (vLLM would refuse every request with a 400), not run and not an error.
 */
import { ServelabError } from '../../errors.js';
import { mixSeed } from '../../random.js';
import { syntheticItems } from '../../workload/synthetic.js';
import type { ArrivalSpec } from '../arrivals.js';
import { evaluateSlo, type SloThreshold, type SloVerdict } from '../slo.js';
import { type LevelRow, levelRow, type RunLevel } from './level.js';

export const GRID_DEFAULT_PROMPTS = [512, 8000, 32000, 128000];
export const GRID_DEFAULT_OUTPUTS = [128, 2000];

/** `512,8k,32k,128k`: k = 1000, Ki = 1024 (so 128k + 2k fits a 131072-token context). */
export function parseLengths(text: string, flag: string): number[] {
  const out = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(\d+(?:\.\d+)?)(k|ki)?$/i.exec(s);
      const v = m ? Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'ki' ? 1024 : 1000) : 1) : Number.NaN;
      if (!Number.isInteger(v) || v < 1 || v > 10_000_000)
        throw new ServelabError('BAD_FLAG', `${flag} "${s}" is not a token count`, {
          hint: `${flag} 512,8k,32k,128k (k = 1000, Ki = 1024; whole tokens, at most 10M)`,
        });
      return v;
    });
  if (out.length === 0 || out.length > 32)
    throw new ServelabError('BAD_FLAG', `${flag} "${text}": give 1 to 32 lengths`, {
      hint: `e.g. ${flag} 512,8k`,
    });
  return out;
}

export interface GridOptions {
  prompts: number[];
  outputs: number[];
  /** the server's max_model_len (from /v1/models, or the engine); undefined: nothing skipped */
  maxModelLen?: number;
  arrivals: ArrivalSpec;
  requestsPerCell: number;
  seed: number;
  slo?: SloThreshold[];
  maxErrorShare?: number;
  signal?: AbortSignal;
}

export interface GridCell {
  promptTokens: number;
  outputTokens: number;
  /** set when the cell did not run */
  skipped?: string;
  row?: LevelRow;
  slo?: SloVerdict;
}

export interface GridResult {
  kind: 'grid';
  prompts: number[];
  outputs: number[];
  maxModelLen: number | null;
  arrivals: string;
  requestsPerCell: number;
  cells: GridCell[];
}

export async function runGrid(run: RunLevel, o: GridOptions): Promise<GridResult> {
  const cells: GridCell[] = [];
  let k = 0;
  for (const p of o.prompts)
    for (const out of o.outputs) {
      const cellNo = k++;
      const cell: GridCell = { promptTokens: p, outputTokens: out };
      cells.push(cell);
      if (o.maxModelLen !== undefined && p + out > o.maxModelLen) {
        cell.skipped = `prompt ${p} + output ${out} = ${p + out} tokens > max_model_len ${o.maxModelLen}: the server would refuse every request`;
        continue;
      }
      if (o.signal?.aborted) {
        cell.skipped = 'interrupted before this cell';
        continue;
      }
      const items = syntheticItems({
        count: o.requestsPerCell,
        input: { kind: 'fixed', value: p },
        output: { kind: 'fixed', value: out },
        seed: mixSeed(o.seed, 0x9e1d, cellNo),
      });
      const res = await run({
        arrivals: o.arrivals,
        items,
        numPrompts: o.requestsPerCell,
        label: `prompt ${p} x output ${out}`,
      });
      cell.row = levelRow(res);
      if (o.slo) cell.slo = evaluateSlo(res.stage.summary, o.slo, o.maxErrorShare);
    }
  return {
    kind: 'grid',
    prompts: o.prompts,
    outputs: o.outputs,
    maxModelLen: o.maxModelLen ?? null,
    arrivals: cells.find((c) => c.row)?.row?.arrivals ?? '',
    requestsPerCell: o.requestsPerCell,
    cells,
  };
}

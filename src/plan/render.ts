/** The plan as one terminal table (options side by side) with its header and notes. */
import { kvBytesPerToken, type ModelProfile, weightBytes } from '../knowledge/models.js';
import { fmt, type Table, toTerminal } from '../report/table.js';
import type { PlanOption, PlanResult } from './plan.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');

function fitCell(o: PlanOption): string {
  const m = o.memory;
  if (m.fits) return 'yes';
  const short = `no, ${m.missGiB.toFixed(2)} GiB/GPU short`;
  if (!m.weightsFit) return `${short} (weights)`;
  // rounded up: at the printed utilization it fits
  const util = Math.ceil(o.neededUtilization * 100 - 1e-9) / 100;
  return util <= 1 ? `${short} (util ${util.toFixed(2)} fits)` : short;
}

function markCell(o: PlanOption, hasSlo: boolean): string {
  if (o.best) return hasSlo ? '<- cheapest meeting SLO' : '<- cheapest';
  if (o.meetsSlo === false) return 'misses SLO';
  return '';
}

export function planTable(r: PlanResult): Table {
  const hasSlo = r.slo.ttftP99Ms !== undefined || r.slo.tpotP99Ms !== undefined;
  const ml = int(r.maxModelLen);
  const headers = [
    'option',
    'GPUs',
    'weights GiB/GPU',
    'KV GiB/GPU',
    'KV B/token/GPU',
    'KV tokens',
    `seqs @${ml}`,
    `seqs @${int(r.load.inputLen + r.load.outputLen)}`,
    `fits @${r.gpuMemoryUtilization}`,
    'out tok/s',
    'TTFT p99 ms',
    'TPOT p99 ms',
    '$/h',
    '$/M out',
    '$/M total',
    '',
  ];
  const rows = r.options.map((o) => [
    o.label,
    String(o.gpusTotal),
    o.memory.weightsGiBPerGpu.toFixed(2),
    o.memory.kvGiBPerGpu > 0 ? o.memory.kvGiBPerGpu.toFixed(2) : '-',
    int(o.memory.kvBytesPerTokenPerGpu),
    int(o.kvTokensTotal),
    String(o.maxSeqsAtMaxModelLen),
    String(o.maxSeqsAtLoadContext),
    fitCell(o),
    o.sim ? int(o.sim.outputTokPerS) : '-',
    o.sim ? int(o.sim.ttftMs.p99) : '-',
    o.sim ? fmt(o.sim.tpotMs.p99) : '-',
    o.usdPerHour !== undefined ? o.usdPerHour.toFixed(2) : '-',
    o.usdPerMOutputTokens !== undefined ? o.usdPerMOutputTokens.toFixed(2) : '-',
    o.usdPerMTotalTokens !== undefined ? o.usdPerMTotalTokens.toFixed(3) : '-',
    markCell(o, hasSlo),
  ]);
  return { headers, rows, numeric: headers.map((_, i) => (i >= 1 && i <= 7) || (i >= 9 && i <= 14)) };
}

export function renderPlan(r: PlanResult, model: ModelProfile): string {
  const wb = weightBytes(model, r.weightDtype);
  const kvb = kvBytesPerToken(model, r.kvCacheDtype);
  const kvHow = model.mla
    ? `MLA latent ${model.mla.kvLoraRank + model.mla.ropeHeadDim} x ${model.attentionLayers} layers`
    : `2 x ${model.attentionLayers} layers x ${model.numKvHeads} KV heads x ${model.headDim}`;
  const load = r.load;
  const loadWhat =
    load.concurrency !== undefined ? `${load.concurrency} concurrent` : `Poisson ${load.requestRate} req/s`;
  const slo = [
    r.slo.ttftP99Ms !== undefined ? `TTFT p99 <= ${r.slo.ttftP99Ms} ms` : '',
    r.slo.tpotP99Ms !== undefined ? `TPOT p99 <= ${r.slo.tpotP99Ms} ms` : '',
  ].filter(Boolean);
  const lines = [
    `${r.model}: weights ${r.weightDtype} ${((wb.dense + wb.experts) / 1024 ** 3).toFixed(1)} GiB in all; KV cache ${r.kvCacheDtype} ${int(kvb)} B/token (${kvHow}); max_model_len ${int(r.maxModelLen)}`,
    `load: ${loadWhat}, ${int(load.inputLen)} in / ${int(load.outputLen)} out tokens, ${load.numPrompts} requests per option on the simulated engine (virtual time, seed ${load.seed})${slo.length ? `; SLO ${slo.join(', ')}` : ''}`,
    '',
    toTerminal(planTable(r)),
    '',
    ...r.notes.map((n) => `note: ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}

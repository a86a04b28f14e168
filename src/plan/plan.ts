/**
 * `servelab plan`: deployment options for one model side by side. For each option (GPU type x
 * TP / PP / DP layout) the per-GPU memory budget (knowledge/capacity.ts), whether it fits under
 * gpu_memory_utilization and by how much it misses, the KV capacity, a virtual-time run of the
 * simulated engine at the target load, and the cost from the price table. Pure apart from the
 * simulation's CPU time; the CLI reads files and prints.
 */
import { ServelabError } from '../errors.js';
import { defaultBatchLimits, type MemoryPlan, memoryPlan } from '../knowledge/capacity.js';
import type { GpuProfile } from '../knowledge/gpus.js';
import type { KvDtype, ModelProfile, WeightDtype } from '../knowledge/models.js';
import { type LoadSpec, type SimResult, simulateLoad } from './simulate.js';

/** a bound on one option's simulated run (prompt + output tokens of all its requests) */
export const MAX_SIMULATED_TOKENS = 2e8;

export interface Layout {
  tp: number;
  pp: number;
  dp: number;
}

export interface Slo {
  ttftP99Ms?: number;
  tpotP99Ms?: number;
}

export interface PriceEntry {
  usdPerGpuHour: number;
  /** where the figure comes from: the table's source and date, or "--price" / a file */
  source: string;
}

export interface PlanInput {
  model: ModelProfile;
  gpus: readonly GpuProfile[];
  /** GPUs in one pod / node (NVLink domain) */
  gpusPerNode: number;
  weightDtype?: WeightDtype;
  kvCacheDtype: KvDtype;
  maxModelLen: number;
  gpuMemoryUtilization: number;
  blockSize: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  /** one fixed layout; undefined: enumerate */
  layout?: Layout;
  enableExpertParallel: boolean;
  /** most GPUs an enumerated option may use */
  maxGpus: number;
  /** per-GPU network bandwidth between pods, Gb/s (TP or PP across pods) */
  interNodeGbps: number;
  load: LoadSpec;
  slo: Slo;
  prices: ReadonlyMap<string, PriceEntry>;
  /** false: memory and cost only (no simulated run) */
  simulate: boolean;
}

export interface PlanOption {
  gpu: string;
  label: string;
  layout: Layout;
  gpusTotal: number;
  pods: number;
  memory: MemoryPlan;
  /** KV tokens over all replicas */
  kvTokensTotal: number;
  /** max_model_len sequences the KV cache holds at once, all replicas */
  maxSeqsAtMaxModelLen: number;
  /** sequences of the load's context (input + output) the KV cache holds at once, all replicas */
  maxSeqsAtLoadContext: number;
  /** gpu_memory_utilization it would need to fit (> 1: cannot fit on this layout) */
  neededUtilization: number;
  sim?: SimResult;
  /** why no simulated run */
  simSkipped?: string;
  usdPerHour?: number;
  usdPerMOutputTokens?: number;
  usdPerMTotalTokens?: number;
  /** undefined when not simulated or no SLO was given */
  meetsSlo?: boolean;
  /** the cheapest option meeting the SLO ($/M output tokens) */
  best: boolean;
}

export interface PlanResult {
  model: string;
  weightDtype: WeightDtype;
  kvCacheDtype: KvDtype;
  maxModelLen: number;
  gpuMemoryUtilization: number;
  load: LoadSpec;
  slo: Slo;
  options: PlanOption[];
  /** label of the best option, or null (none fits / meets the SLO / has a price) */
  best: string | null;
  notes: string[];
}

/** vLLM's TP rule: attention heads divide by TP; KV heads divide TP or TP divides them */
export function validTp(m: ModelProfile, tp: number): boolean {
  if (m.numHeads % tp !== 0) return false;
  if (m.mla) return true;
  return m.numKvHeads % tp === 0 || tp % m.numKvHeads === 0;
}

export function layoutLabel(l: Layout): string {
  const parts = [`TP${l.tp}`];
  if (l.pp > 1) parts.push(`PP${l.pp}`);
  if (l.dp > 1) parts.push(`DP${l.dp}`);
  return parts.join(' x ');
}

function memFor(inp: PlanInput, gpu: GpuProfile, l: Layout): MemoryPlan {
  return memoryPlan({
    model: inp.model,
    gpu,
    tp: l.tp,
    pp: l.pp,
    dp: l.dp,
    enableExpertParallel: inp.enableExpertParallel,
    gpuMemoryUtilization: inp.gpuMemoryUtilization,
    blockSize: inp.blockSize,
    ...(inp.maxNumBatchedTokens !== undefined ? { maxNumBatchedTokens: inp.maxNumBatchedTokens } : {}),
    ...(inp.weightDtype !== undefined ? { weightDtype: inp.weightDtype } : {}),
    kvCacheDtype: inp.kvCacheDtype,
    maxModelLen: inp.maxModelLen,
  });
}

/**
 * Sensible layouts for one GPU type: GPU counts 1, 2, 4, ... up to a pod, then whole pods up to
 * maxGpus; per count TP over all of them, TP over a pod x PP over pods, and DP replicas of every
 * layout that fits at the smallest count that fits. Counts start one below the first that fits
 * (to show what misses) and stop at 4x it.
 */
export function enumerateLayouts(inp: PlanInput, gpu: GpuProfile): Layout[] {
  const gpn = inp.gpusPerNode;
  const counts: number[] = [];
  for (let g = 1; g <= Math.min(gpn, inp.maxGpus); g *= 2) counts.push(g);
  if (counts[counts.length - 1] !== gpn && gpn <= inp.maxGpus) counts.push(gpn);
  for (let k = 2; k * gpn <= inp.maxGpus; k++) counts.push(k * gpn);
  const single = (g: number): Layout[] => {
    const out: Layout[] = [];
    if (validTp(inp.model, g)) out.push({ tp: g, pp: 1, dp: 1 });
    if (g > gpn && g % gpn === 0 && validTp(inp.model, gpn)) out.push({ tp: gpn, pp: g / gpn, dp: 1 });
    return out;
  };
  const fitIdx = counts.findIndex((g) => single(g).some((l) => memFor(inp, gpu, l).fits));
  if (fitIdx < 0) {
    // nothing fits: show the largest count's layouts with their misses
    return single(counts[counts.length - 1]!);
  }
  const gFit = counts[fitIdx]!;
  const fitting = single(gFit).filter((l) => memFor(inp, gpu, l).fits);
  const out: Layout[] = [];
  for (let i = Math.max(0, fitIdx - 1); i < counts.length; i++) {
    const g = counts[i]!;
    if (g > 4 * gFit) break;
    out.push(...single(g));
    if (g > gFit && g % gFit === 0) for (const f of fitting) out.push({ ...f, dp: g / gFit });
  }
  return out;
}

/** The GPU as a TP group spanning pods sees it: the slowest link, the network's latency. */
function effectiveGpu(inp: PlanInput, gpu: GpuProfile, tp: number): GpuProfile {
  if (tp <= inp.gpusPerNode) return gpu;
  const netGBs = inp.interNodeGbps / 8;
  return { ...gpu, linkGBs: Math.min(gpu.linkGBs, netGBs), allReduceUs: Math.max(gpu.allReduceUs, 25) };
}

function checkInput(inp: PlanInput): void {
  const ctx = inp.load.inputLen + inp.load.outputLen;
  if (ctx > inp.maxModelLen) {
    throw new ServelabError(
      'BAD_FLAG',
      `--random-input-len ${inp.load.inputLen} + --random-output-len ${inp.load.outputLen} = ${ctx} tokens exceeds --max-model-len ${inp.maxModelLen}`,
      { hint: 'shorten the prompt or output, or raise --max-model-len' },
    );
  }
  const simTokens = inp.load.numPrompts * ctx;
  if (inp.simulate && simTokens > MAX_SIMULATED_TOKENS) {
    throw new ServelabError(
      'BAD_FLAG',
      `--num-prompts ${inp.load.numPrompts} x ${ctx} tokens = ${simTokens.toExponential(2)} tokens per option is more than the planner simulates (${MAX_SIMULATED_TOKENS.toExponential(0)})`,
      { hint: 'lower --num-prompts, or plan memory and cost only with --no-simulate' },
    );
  }
  if (inp.gpus.length === 0)
    throw new ServelabError('BAD_FLAG', 'no GPU type given', { hint: 'pass --gpu NAME' });
}

export function planDeployment(inp: PlanInput): PlanResult {
  checkInput(inp);
  const options: PlanOption[] = [];
  const notes: string[] = [];
  const wd = inp.weightDtype ?? inp.model.defaultWeightDtype;
  const loadCtx = inp.load.inputLen + inp.load.outputLen;
  for (const gpu of inp.gpus) {
    const layouts = inp.layout ? [inp.layout] : enumerateLayouts(inp, gpu);
    if (inp.layout && !validTp(inp.model, inp.layout.tp)) {
      throw new ServelabError(
        'BAD_FLAG',
        `--tensor-parallel-size ${inp.layout.tp} does not divide ${inp.model.name}'s ${inp.model.numHeads} attention heads${inp.model.mla ? '' : ` / ${inp.model.numKvHeads} KV heads`}`,
        { hint: 'vLLM needs num_attention_heads % tp == 0; use a power of two up to the pod size' },
      );
    }
    const price = inp.prices.get(gpu.name);
    for (const l of layouts) {
      const mem = memFor(inp, gpu, l);
      const gpusTotal = l.tp * l.pp * l.dp;
      const replicaGpus = l.tp * l.pp;
      const opt: PlanOption = {
        gpu: gpu.name,
        label: `${inp.gpus.length > 1 ? `${gpu.name} ` : ''}${layoutLabel(l)}`,
        layout: l,
        gpusTotal,
        pods: Math.ceil(gpusTotal / inp.gpusPerNode),
        memory: mem,
        kvTokensTotal: mem.kvCapacityTokens * l.dp,
        maxSeqsAtMaxModelLen: Math.floor(mem.kvCapacityTokens / inp.maxModelLen) * l.dp,
        maxSeqsAtLoadContext: Math.floor(mem.kvCapacityTokens / loadCtx) * l.dp,
        neededUtilization: mem.gpuMemoryUtilization + mem.missGiB / gpu.memGiB,
        best: false,
      };
      if (price) opt.usdPerHour = price.usdPerGpuHour * gpusTotal;
      if (!mem.fits) opt.simSkipped = 'does not fit';
      else if (!inp.simulate) opt.simSkipped = 'not simulated (--no-simulate)';
      else {
        const defaults = defaultBatchLimits(gpu);
        const crossesPods = replicaGpus > inp.gpusPerNode && l.tp <= inp.gpusPerNode;
        const sim = simulateLoad(
          {
            model: inp.model,
            gpu: effectiveGpu(inp, gpu, l.tp),
            tp: l.tp,
            pp: l.pp,
            dp: l.dp,
            numGpuBlocks: mem.numGpuBlocks,
            blockSize: inp.blockSize,
            maxModelLen: inp.maxModelLen,
            maxNumSeqs: inp.maxNumSeqs ?? defaults.maxNumSeqs,
            maxNumBatchedTokens: inp.maxNumBatchedTokens ?? defaults.maxNumBatchedTokens,
            weightDtype: wd,
            kvCacheDtype: inp.kvCacheDtype,
            stageHop: crossesPods
              ? { latencyUs: 25, linkGBs: inp.interNodeGbps / 8 }
              : { latencyUs: gpu.allReduceUs, linkGBs: gpu.linkGBs },
          },
          inp.load,
        );
        opt.sim = sim;
        if (opt.usdPerHour !== undefined) {
          opt.usdPerMOutputTokens = (opt.usdPerHour / (sim.outputTokPerS * 3600)) * 1e6;
          opt.usdPerMTotalTokens = (opt.usdPerHour / (sim.totalTokPerS * 3600)) * 1e6;
        }
        if (inp.slo.ttftP99Ms !== undefined || inp.slo.tpotP99Ms !== undefined) {
          opt.meetsSlo =
            (inp.slo.ttftP99Ms === undefined || sim.ttftMs.p99 <= inp.slo.ttftP99Ms) &&
            (inp.slo.tpotP99Ms === undefined || sim.tpotMs.p99 <= inp.slo.tpotP99Ms);
        }
      }
      options.push(opt);
    }
    if (!price)
      notes.push(
        `no price for ${gpu.name}: give one with --price ${gpu.name}=USD/h (per GPU-hour) or --price-file`,
      );
    else notes.push(`${gpu.name}: $${price.usdPerGpuHour}/GPU-hour (${price.source})`);
  }
  const candidates = options.filter(
    (o) => o.sim && o.meetsSlo !== false && o.usdPerMOutputTokens !== undefined,
  );
  candidates.sort((a, b) => a.usdPerMOutputTokens! - b.usdPerMOutputTokens! || a.gpusTotal - b.gpusTotal);
  const best = candidates[0];
  if (best) best.best = true;
  else if (options.some((o) => o.sim))
    notes.push(
      options.some((o) => o.sim && o.meetsSlo !== false)
        ? 'no option marked: no price for the options that fit'
        : 'no option meets the SLO at this load',
    );
  if (inp.enableExpertParallel && options.some((o) => o.layout.dp > 1))
    notes.push(
      'EP: memory with the routed experts over TP x DP GPUs; the simulated step time treats each DP replica as its own TP group (the all-to-all is not modelled)',
    );
  if (options.some((o) => o.layout.pp > 1))
    notes.push(
      'PP: stages run one batch after another (micro-batch overlap not modelled): throughput is a lower bound',
    );
  if (options.some((o) => o.layout.tp * o.layout.pp > inp.gpusPerNode))
    notes.push(
      `across pods: ${inp.interNodeGbps} Gb/s per GPU (--inter-node-gbps) for TP all-reduces and PP hops; within a pod the GPU's own link`,
    );
  return {
    model: inp.model.name,
    weightDtype: wd,
    kvCacheDtype: inp.kvCacheDtype,
    maxModelLen: inp.maxModelLen,
    gpuMemoryUtilization: inp.gpuMemoryUtilization,
    load: inp.load,
    slo: inp.slo,
    options,
    best: best?.label ?? null,
    notes,
  };
}

/**
 * `servelab plan`: capacity and cost of deployment options for one model before paying for them
 * (W5). Memory per GPU, KV capacity, fit under gpu_memory_utilization, a virtual-time run of the
 * simulated engine at the target load, $/hour and $/M tokens; options side by side, the
 * cheapest meeting the SLO marked. Flag names are vLLM's (serve and bench) where vLLM has one.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, ServelabError } from '../../errors.js';
import { GPUS, getGpu } from '../../knowledge/gpus.js';
import {
  findModel,
  type KvDtype,
  MODELS,
  type ModelProfile,
  type WeightDtype,
} from '../../knowledge/models.js';
import { defaultPrices, parsePrice, parsePriceFile, parseSlo } from '../../plan/inputs.js';
import { modelFromHfConfig } from '../../plan/model-config.js';
import { type Layout, planDeployment } from '../../plan/plan.js';
import { renderPlan } from '../../plan/render.js';
import { MAX_PROMPTS } from '../../plan/simulate.js';
import type { CommandContext } from './index.js';

interface PlanFlags {
  model?: string;
  gpu?: string;
  gpusPerNode: string;
  maxGpus?: string;
  tensorParallelSize?: string;
  pipelineParallelSize?: string;
  dataParallelSize?: string;
  enableExpertParallel?: boolean;
  quantization?: string;
  kvCacheDtype: string;
  maxModelLen?: string;
  gpuMemoryUtilization: string;
  blockSize: string;
  maxNumBatchedTokens?: string;
  maxNumSeqs?: string;
  maxConcurrency?: string;
  requestRate?: string;
  randomInputLen: string;
  randomOutputLen: string;
  numPrompts?: string;
  seed: string;
  slo?: string;
  price?: string[];
  priceFile?: string;
  interNodeGbps: string;
  simulate: boolean;
  json?: boolean;
}

function num(
  v: string | undefined,
  flag: string,
  o: { int?: boolean; min: number; max: number; open?: boolean },
) {
  if (v === undefined) return undefined;
  const n = Number(v);
  const low = o.open ? n > o.min : n >= o.min;
  if (v.trim() === '' || !Number.isFinite(n) || (o.int && !Number.isInteger(n)) || !low || n > o.max) {
    throw new ServelabError(
      'BAD_FLAG',
      `${flag} "${v}" is not ${o.int ? 'an integer' : 'a number'} ${o.open ? '>' : '>='} ${o.min} and <= ${o.max}`,
    );
  }
  return n;
}

function loadModel(spec: string, cwd: string): ModelProfile {
  const known = findModel(spec);
  if (known) return known;
  const p = resolve(cwd, spec);
  if (existsSync(p)) {
    const file = statSync(p).isDirectory() ? join(p, 'config.json') : p;
    if (!existsSync(file)) {
      throw new ServelabError('BAD_FILE', `${spec} is a directory without config.json`, {
        hint: "pass the model's Hugging Face config.json",
      });
    }
    const name = file.endsWith('config.json') ? file.split('/').slice(-2, -1)[0] : undefined;
    return modelFromHfConfig(readFileSync(file, 'utf8'), file, name);
  }
  throw new ServelabError('BAD_FLAG', `--model "${spec}": unknown model and no such file`, {
    hint: `use one of ${MODELS.map((m) => m.name).join(', ')} (or their HF ids), or the path of the model's Hugging Face config.json`,
  });
}

function weightDtype(q: string | undefined): WeightDtype | undefined {
  if (q === undefined) return undefined;
  const v = q.toLowerCase();
  if (v === 'fp8' || v === 'mxfp4') return v;
  if (v === 'none' || v === 'bf16' || v === 'bfloat16') return 'bf16';
  throw new ServelabError('BAD_FLAG', `--quantization "${q}" is not modelled`, {
    hint: "use fp8, mxfp4 or none (BF16 weights); default: the checkpoint's own",
  });
}

function kvDtype(v: string): KvDtype {
  const k = v.toLowerCase();
  if (k === 'auto' || k === 'bf16' || k === 'bfloat16' || k === 'fp16' || k === 'float16') return 'bf16';
  if (k === 'fp8' || k === 'fp8_e4m3' || k === 'fp8_e5m2') return 'fp8';
  throw new ServelabError(
    'BAD_FLAG',
    `--kv-cache-dtype "${v}" is not one of auto, bfloat16, fp8, fp8_e4m3, fp8_e5m2`,
  );
}

async function planAction(f: PlanFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  if (!f.model)
    throw new ServelabError('BAD_FLAG', '--model is required', {
      hint: 'e.g. --model deepseek-ai/DeepSeek-R1',
    });
  if (!f.gpu)
    throw new ServelabError('BAD_FLAG', '--gpu is required', {
      hint: `one or more of ${GPUS.map((g) => g.name).join(', ')} (comma-separated)`,
    });
  const model = loadModel(f.model, io.cwd);
  const gpus = f.gpu.split(',').map((g) => getGpu(g));
  const gpusPerNode = num(f.gpusPerNode, '--gpus-per-node', { int: true, min: 1, max: 64 })!;
  const maxGpus = num(f.maxGpus, '--max-gpus', { int: true, min: 1, max: 4096 }) ?? 4 * gpusPerNode;
  const tp = num(f.tensorParallelSize, '--tensor-parallel-size', { int: true, min: 1, max: 1024 });
  const pp = num(f.pipelineParallelSize, '--pipeline-parallel-size', { int: true, min: 1, max: 256 });
  const dp = num(f.dataParallelSize, '--data-parallel-size', { int: true, min: 1, max: 64 });
  const layout: Layout | undefined =
    tp !== undefined || pp !== undefined || dp !== undefined
      ? { tp: tp ?? 1, pp: pp ?? 1, dp: dp ?? 1 }
      : undefined;
  const maxModelLen =
    num(f.maxModelLen, '--max-model-len', { int: true, min: 16, max: 100_000_000 }) ?? model.maxContext;
  const util = num(f.gpuMemoryUtilization, '--gpu-memory-utilization', { min: 0, max: 1, open: true })!;
  const blockSize = num(f.blockSize, '--block-size', { int: true, min: 1, max: 1024 })!;
  if (![8, 16, 32, 64, 128].includes(blockSize)) {
    throw new ServelabError('BAD_FLAG', `--block-size ${blockSize} is not one of vLLM's 8, 16, 32, 64, 128`);
  }
  const mnbt = num(f.maxNumBatchedTokens, '--max-num-batched-tokens', {
    int: true,
    min: 16,
    max: 10_000_000,
  });
  const mns = num(f.maxNumSeqs, '--max-num-seqs', { int: true, min: 1, max: 100_000 });
  const rate = num(f.requestRate, '--request-rate', { min: 0, max: 100_000, open: true });
  const conc = num(f.maxConcurrency, '--max-concurrency', { int: true, min: 1, max: 10_000 });
  if (rate !== undefined && conc !== undefined) {
    throw new ServelabError('BAD_FLAG', 'give --max-concurrency or --request-rate, not both', {
      hint: 'a closed loop of N clients (--max-concurrency) or Poisson arrivals (--request-rate)',
    });
  }
  const inputLen = num(f.randomInputLen, '--random-input-len', { int: true, min: 1, max: 10_000_000 })!;
  const outputLen = num(f.randomOutputLen, '--random-output-len', { int: true, min: 1, max: 10_000_000 })!;
  const concurrency = rate === undefined ? (conc ?? 16) : undefined;
  const numPrompts =
    num(f.numPrompts, '--num-prompts', { int: true, min: 1, max: MAX_PROMPTS }) ??
    Math.min(
      MAX_PROMPTS,
      concurrency !== undefined ? Math.max(3 * concurrency, 32) : Math.max(64, Math.ceil(rate! * 30)),
    );
  const seed = num(f.seed, '--seed', { int: true, min: 0, max: 2 ** 31 })!;
  const interNodeGbps = num(f.interNodeGbps, '--inter-node-gbps', { min: 0, max: 100_000, open: true })!;
  const prices = defaultPrices();
  if (f.priceFile) {
    const path = resolve(io.cwd, f.priceFile);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ServelabError('BAD_FILE', `--price-file ${f.priceFile}: ${(e as Error).message}`, {
        hint: 'give a readable file: {"H100-NVL": 2.59} or one GPU=USD/h per line',
      });
    }
    for (const p of parsePriceFile(text, f.priceFile))
      prices.set(p.gpu, { usdPerGpuHour: p.usdPerGpuHour, source: f.priceFile });
  }
  for (const s of f.price ?? []) {
    const p = parsePrice(s, '--price');
    prices.set(p.gpu, { usdPerGpuHour: p.usdPerGpuHour, source: '--price' });
  }
  const result = planDeployment({
    model,
    gpus,
    gpusPerNode,
    ...(weightDtype(f.quantization) !== undefined ? { weightDtype: weightDtype(f.quantization)! } : {}),
    kvCacheDtype: kvDtype(f.kvCacheDtype),
    maxModelLen,
    gpuMemoryUtilization: util,
    blockSize,
    ...(mnbt !== undefined ? { maxNumBatchedTokens: mnbt } : {}),
    ...(mns !== undefined ? { maxNumSeqs: mns } : {}),
    ...(layout ? { layout } : {}),
    enableExpertParallel: f.enableExpertParallel === true,
    maxGpus,
    interNodeGbps,
    load: {
      ...(concurrency !== undefined ? { concurrency } : { requestRate: rate! }),
      inputLen,
      outputLen,
      numPrompts,
      seed,
    },
    slo: f.slo ? parseSlo(f.slo) : {},
    prices,
    simulate: f.simulate,
  });
  io.stdout(f.json ? `${JSON.stringify(result, null, 2)}\n` : renderPlan(result, model));
  return EXIT.ok;
}

export function registerPlan(program: Command, ctx: CommandContext): void {
  program
    .command('plan')
    .description(
      'capacity and cost of deployment options for a model: memory, KV cache, simulated latency, $/M tokens',
    )
    .option(
      '--model <name|config.json>',
      `a known model (${MODELS.map((m) => m.name).join(', ')}, or their HF ids) or the path of a Hugging Face config.json`,
    )
    .option('--gpu <names>', `GPU type(s), comma-separated: ${GPUS.map((g) => g.name).join(', ')}`)
    .option('--gpus-per-node <n>', 'GPUs in one pod (the NVLink domain)', '8')
    .option('--max-gpus <n>', 'most GPUs an enumerated option may use (default 4 pods)')
    .option('--tp, --tensor-parallel-size <n>', 'one layout instead of the enumerated ones: TP')
    .option('--pp, --pipeline-parallel-size <n>', 'PP of that layout')
    .option('--dp, --data-parallel-size <n>', 'DP replicas of that layout')
    .option('--enable-expert-parallel', 'MoE experts spread over TP x DP GPUs (vLLM EP)')
    .option('--quantization <fp8|mxfp4|none>', "weight dtype (default: the checkpoint's own)")
    .option('--kv-cache-dtype <auto|fp8>', 'KV cache dtype', 'auto')
    .option('--max-model-len <n>', "context length to fit (default: the model's maximum)")
    .option('--gpu-memory-utilization <frac>', 'fraction of GPU memory vLLM may use', '0.9')
    .option('--block-size <n>', 'KV block size in tokens', '16')
    .option('--max-num-batched-tokens <n>', "token budget per step (default: vLLM's by GPU memory)")
    .option('--max-num-seqs <n>', "max running requests per replica (default: vLLM's by GPU memory)")
    .option('--max-concurrency <n>', 'target load: N clients in a closed loop (default 16)')
    .option('--request-rate <r>', 'target load: Poisson arrivals, requests/s')
    .option('--random-input-len <n>', 'prompt tokens per request', '1024')
    .option('--random-output-len <n>', 'output tokens per request', '1024')
    .option(
      '--num-prompts <n>',
      `requests per simulated option (default 3 x concurrency, >= 32; at most ${MAX_PROMPTS})`,
    )
    .option('--seed <n>', 'seed of the simulated load', '0')
    .option('--slo <list>', 'e.g. "ttft:P99<2000ms,tpot:P99<50ms"; the cheapest option meeting it is marked')
    .option(
      '--price <GPU=USD/h...>',
      'price per GPU-hour, overriding the built-in table (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--price-file <file>', 'prices: JSON {"H100-NVL": 2.59} or one GPU=USD/h per line')
    .option('--inter-node-gbps <n>', 'network bandwidth per GPU between pods, Gb/s', '400')
    .option('--no-simulate', 'memory and cost only, no simulated run')
    .option('--json', 'the whole plan as JSON')
    .action(async (flags: PlanFlags) => {
      ctx.setExit(await planAction(flags, ctx));
    });
}

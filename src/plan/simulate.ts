/**
 * The target load on the simulated engine in virtual time: dp engines (one per data-parallel
 * replica) on one VirtualClock, requests to the replica with the fewest in flight, a closed
 * loop of `concurrency` clients or Poisson arrivals at `requestRate`. Bounded: numPrompts
 * requests (<= MAX_PROMPTS) and at most MAX_EVENTS clock events; a run takes well under a
 * second of CPU for the defaults.
 * PP: one batch goes through the stages one after the other, so a step takes the TP step time
 * (each stage has 1/pp of the work) plus (pp - 1) activation hops; vLLM's overlapping of pp
 * micro-batches is not modelled, so PP throughput here is a lower bound.
 */
import { ServelabError } from '../errors.js';
import type { GpuProfile } from '../knowledge/gpus.js';
import type { KvDtype, ModelProfile, WeightDtype } from '../knowledge/models.js';
import { exponential, intIn, mulberry32, subSeed } from '../random.js';
import { VirtualClock } from '../sim/clock.js';
import { createEngine, type SimEngine } from '../sim/engine.js';
import type { EngineRequestInfo } from '../sim/engine-api.js';
import { makeStepTime } from '../sim/step-time.js';

export const MAX_PROMPTS = 2000;
export const MAX_EVENTS = 5_000_000;

export interface LoadSpec {
  /** closed loop of this many clients (vllm bench --max-concurrency) */
  concurrency?: number;
  /** Poisson arrivals, requests/s (vllm bench --request-rate) */
  requestRate?: number;
  inputLen: number;
  outputLen: number;
  numPrompts: number;
  seed: number;
}

export interface EngineSetup {
  model: ModelProfile;
  /** the GPU as one TP group sees it (link bandwidth already the slowest hop) */
  gpu: GpuProfile;
  tp: number;
  pp: number;
  dp: number;
  numGpuBlocks: number;
  blockSize: number;
  maxModelLen: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  weightDtype: WeightDtype;
  kvCacheDtype: KvDtype;
  /** one activation hop between pipeline stages: fixed us and GB/s */
  stageHop: { latencyUs: number; linkGBs: number };
}

export interface Quantiles {
  p50: number;
  p99: number;
}

export interface SimResult {
  requests: number;
  /** virtual seconds from the first arrival to the last finish */
  makespanS: number;
  requestsPerS: number;
  outputTokPerS: number;
  totalTokPerS: number;
  ttftMs: Quantiles;
  tpotMs: Quantiles;
  e2eMs: Quantiles;
  preemptions: number;
}

function quantiles(xs: number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    if (s.length === 0) return Number.NaN;
    // nearest rank
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  };
  return { p50: q(0.5), p99: q(0.99) };
}

export function simulateLoad(e: EngineSetup, load: LoadSpec): SimResult {
  if ((load.concurrency === undefined) === (load.requestRate === undefined)) {
    throw new ServelabError('BAD_FLAG', 'give one of --max-concurrency and --request-rate');
  }
  const n = Math.min(load.numPrompts, MAX_PROMPTS);
  const clock = new VirtualClock(0);
  const base = makeStepTime({
    model: e.model,
    gpu: e.gpu,
    tp: e.tp,
    weightDtype: e.weightDtype,
    kvCacheDtype: e.kvCacheDtype,
  });
  const hopFixed = (e.pp - 1) * (e.stageHop.latencyUs / 1000);
  const hopPerToken = (((e.pp - 1) * e.model.hidden * 2) / (e.stageHop.linkGBs * 1e9)) * 1000;
  const stepTimeFn =
    e.pp > 1
      ? (t: number, s: number, b: number, kv: number, a2: number) =>
          b === 0 ? 0 : base(t, s, b, kv, a2) + hopFixed + hopPerToken * t
      : base;
  const engines: SimEngine[] = [];
  for (let i = 0; i < e.dp; i++) {
    engines.push(
      createEngine(
        {
          model: e.model,
          gpu: e.gpu,
          tp: e.tp,
          maxModelLen: e.maxModelLen,
          maxNumSeqs: e.maxNumSeqs,
          maxNumBatchedTokens: e.maxNumBatchedTokens,
          blockSize: e.blockSize,
          kvCacheDtype: e.kvCacheDtype,
          weightDtype: e.weightDtype,
          numGpuBlocksOverride: e.numGpuBlocks,
          stepTimeFn,
          enablePrefixCaching: true,
        },
        clock,
      ),
    );
  }
  const inFlight = new Array<number>(e.dp).fill(0);
  const rng = mulberry32(subSeed(load.seed, 1));
  const done: EngineRequestInfo[] = [];
  let next = 0;
  const submit = () => {
    if (next >= n) return;
    const id = next++;
    let k = 0;
    for (let i = 1; i < e.dp; i++) if (inFlight[i]! < inFlight[k]!) k = i;
    inFlight[k]! += 1;
    const prompt = new Uint32Array(load.inputLen);
    // random token ids: no two prompts share a prefix block
    for (let j = 0; j < prompt.length; j++) prompt[j] = intIn(rng, 1000, 150000);
    engines[k]!.submit(
      { id: `p${id}`, promptTokenIds: prompt, maxTokens: load.outputLen, targetOutputTokens: load.outputLen },
      {
        onFinish(_reason, info) {
          inFlight[k]! -= 1;
          done.push(info);
          if (load.concurrency !== undefined) clock.schedule(clock.nowMs(), submit);
        },
      },
    );
  };
  if (load.concurrency !== undefined) {
    for (let i = 0; i < Math.min(load.concurrency, n); i++) clock.schedule(0, submit);
  } else {
    const arrivals = mulberry32(subSeed(load.seed, 2));
    let t = 0;
    for (let i = 0; i < n; i++) {
      clock.schedule(t, submit);
      t += exponential(arrivals, 1000 / load.requestRate!);
    }
  }
  const events = clock.runUntilIdle(MAX_EVENTS);
  if (done.length < n) {
    throw new ServelabError(
      'INTERNAL',
      `the simulated run stopped after ${events} events with ${done.length} of ${n} requests done`,
      { hint: 'lower --num-prompts or the lengths' },
    );
  }
  const first = Math.min(...done.map((d) => d.arrivalMs));
  const last = Math.max(...done.map((d) => d.finishMs));
  const makespanS = Math.max(1e-9, (last - first) / 1000);
  const outTokens = done.reduce((a, d) => a + d.outputTokens, 0);
  const inTokens = done.reduce((a, d) => a + d.promptTokens, 0);
  return {
    requests: done.length,
    makespanS,
    requestsPerS: done.length / makespanS,
    outputTokPerS: outTokens / makespanS,
    totalTokPerS: (outTokens + inTokens) / makespanS,
    ttftMs: quantiles(done.map((d) => (d.firstTokenMs ?? d.finishMs) - d.arrivalMs)),
    tpotMs: quantiles(
      done
        .filter((d) => d.outputTokens > 1)
        .map((d) => (d.finishMs - d.firstTokenMs!) / (d.outputTokens - 1)),
    ),
    e2eMs: quantiles(done.map((d) => d.finishMs - d.arrivalMs)),
    preemptions: engines.reduce((a, x) => a + x.snapshot().counters.preemptions, 0),
  };
}

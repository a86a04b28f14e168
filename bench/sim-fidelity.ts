/**
 * Fidelity of the simulated engine against the published measurements of
 * docs/reference simulator.md ("Published measurements to check the model against").
 * Every figure is produced by driving the real engine in virtual time (no HTTP) with the
 * workload each source describes; where the source does not say, the assumption is printed.
 * Prints predicted / published as a ratio; target 0.85-1.15 (TTFT 0.75-1.25).
 *
 *   npx tsx bench/sim-fidelity.ts
 */
import { mulberry32 } from '../src/random.js';
import { VirtualClock } from '../src/sim/clock.js';
import { createEngine, type EngineOptions } from '../src/sim/engine.js';

interface RunStats {
  outTokPerSec: number;
  ttftMeanMs: number;
  ttftP99Ms: number;
  tpotMeanMs: number;
  tpotP99Ms: number;
  durationMs: number;
  preemptions: number;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const r = (p / 100) * (s.length - 1);
  const lo = Math.floor(r);
  const hi = Math.ceil(r);
  return s[lo]! + (s[hi]! - s[lo]!) * (r - lo);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

let tokenBase = 1_000_000;
/** distinct random-dataset prompts: no prefix reuse */
function prompt(len: number): number[] {
  const base = tokenBase;
  tokenBase += len;
  return Array.from({ length: len }, (_, i) => base + i);
}

/**
 * poisson: n requests at a rate; closed: c clients, each sends its next request when the last
 * finishes, n in all; starts spread uniformly over staggerMs (0: all at t=0), and the first
 * `warmup` requests (by finish order) are left out of the latency figures.
 */
type Arrivals =
  | { kind: 'poisson'; ratePerSec: number; n: number }
  | { kind: 'closed'; c: number; n: number; staggerMs?: number; warmup?: number };

function drive(opts: EngineOptions, arrivals: Arrivals, inLen: number, outLen: number, seed = 1): RunStats {
  const clock = new VirtualClock();
  const engine = createEngine(opts, clock);
  const seeded = mulberry32(seed);
  const rng = () => seeded.next();
  const ttft: number[] = [];
  const tpot: number[] = [];
  let out = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  let sent = 0;
  let done = 0;
  let counted = 0;
  let countedOut = 0;
  const e2e: number[] = [];
  const send = () => {
    const id = `r${sent++}`;
    engine.submit(
      { id, promptTokenIds: prompt(inLen), maxTokens: outLen, targetOutputTokens: outLen },
      {
        onFinish: (_r, info) => {
          out += info.outputTokens;
          done++;
          if (arrivals.kind === 'closed' && done <= (arrivals.warmup ?? 0)) {
            if (sent < arrivals.n) send();
            return;
          }
          if (info.arrivalMs < first) first = info.arrivalMs;
          counted++;
          countedOut += info.outputTokens;
          e2e.push(info.finishMs - info.arrivalMs);
          ttft.push(info.firstTokenMs! - info.arrivalMs);
          if (info.outputTokens > 1)
            tpot.push((info.finishMs - info.firstTokenMs!) / (info.outputTokens - 1));
          last = info.finishMs;
          if (arrivals.kind === 'closed' && sent < arrivals.n) send();
        },
      },
    );
  };
  if (arrivals.kind === 'poisson') {
    let t = 0;
    for (let i = 0; i < arrivals.n; i++) {
      clock.schedule(t, send);
      t += (-Math.log(1 - rng()) / arrivals.ratePerSec) * 1000;
    }
  } else {
    const stagger = arrivals.staggerMs ?? 0;
    for (let i = 0; i < arrivals.c; i++) clock.schedule((stagger * i) / arrivals.c, send);
  }
  clock.runUntilIdle(50_000_000);
  const durationMs = last - first;
  // closed loop without think time: throughput = c * tokens per request / E2E (Little's law)
  const outTokPerSec =
    arrivals.kind === 'closed' && (arrivals.warmup ?? 0) > 0
      ? (arrivals.c * (countedOut / counted)) / (mean(e2e) / 1000)
      : (out / durationMs) * 1000;
  return {
    outTokPerSec,
    ttftMeanMs: mean(ttft),
    ttftP99Ms: pct(ttft, 99),
    tpotMeanMs: mean(tpot),
    tpotP99Ms: pct(tpot, 99),
    durationMs,
    preemptions: engine.snapshot().counters.preemptions,
  };
}

interface Row {
  setup: string;
  metric: string;
  published: number;
  predicted: number;
  kind: 'throughput' | 'ttft' | 'latency';
  why?: string;
}
const rows: Row[] = [];
const assumptions: string[] = [];

// ---- 1. RTX 5090, vLLM, Llama-3.1-8B BF16, ~200 in / 200 out (vllm issue 16515) ----
{
  const base: EngineOptions = { model: 'Llama-3.1-8B', gpu: 'RTX 5090', maxModelLen: 4096 };
  assumptions.push(
    'RTX 5090 rows: vllm bench serve random dataset, 200 in / 200 out exactly (ignore_eos), 1,000 prompts, Poisson arrivals, max_model_len 4096, defaults otherwise (gpu util 0.9, 2048 batched tokens, 256 seqs); FP8 peak = FP8 weights at 100 req/s',
  );
  for (const [rate, pub] of [
    [10, 1778],
    [30, 3413],
    [100, 3708],
  ] as const) {
    const r = drive(base, { kind: 'poisson', ratePerSec: rate, n: 1000 }, 200, 200);
    rows.push({
      setup: `RTX 5090 BF16 @ ${rate} req/s`,
      metric: 'output tok/s',
      published: pub,
      predicted: r.outTokPerSec,
      kind: 'throughput',
    });
  }
  const f8 = drive({ ...base, weightDtype: 'fp8' }, { kind: 'poisson', ratePerSec: 100, n: 1000 }, 200, 200);
  rows.push({
    setup: 'RTX 5090 FP8 peak (100 req/s)',
    metric: 'output tok/s',
    published: 5418,
    predicted: f8.outTokPerSec,
    kind: 'throughput',
  });
}

// ---- 2. 1x H100, vLLM 0.10, Llama-3.1-8B FP8, MLPerf v5.1 (Red Hat) ----
{
  const opts: EngineOptions = {
    model: 'Llama-3.1-8B',
    gpu: 'H100',
    weightDtype: 'fp8',
    kvCacheDtype: 'fp8',
    maxModelLen: 4096,
  };
  const IN = 870;
  const OUT = 128;
  assumptions.push(
    `MLPerf rows: CNN/DailyMail lengths approximated as ${IN} in / ${OUT} out for every sample (the real set varies; not in simulator.md), FP8 weights + FP8 KV; offline = 5,000 requests at t=0; server = highest Poisson rate whose p99 TTFT <= 2 s and p99 TPOT <= 100 ms (MLPerf server constraints), found by bisection`,
  );
  const off = drive(opts, { kind: 'closed', c: 5000, n: 5000 }, IN, OUT);
  rows.push({
    setup: 'H100 FP8 MLPerf offline',
    metric: 'tok/s',
    published: 5777,
    predicted: off.outTokPerSec,
    kind: 'throughput',
  });
  let lo = 1;
  let hi = (off.outTokPerSec / OUT) * 1.2;
  let best = 0;
  for (let i = 0; i < 8; i++) {
    const mid = (lo + hi) / 2;
    const r = drive(opts, { kind: 'poisson', ratePerSec: mid, n: 3000 }, IN, OUT, 7);
    if (r.ttftP99Ms <= 2000 && r.tpotP99Ms <= 100) {
      lo = mid;
      best = r.outTokPerSec;
    } else {
      hi = mid;
    }
  }
  rows.push({
    setup: 'H100 FP8 MLPerf server',
    metric: 'tok/s',
    published: 5103,
    predicted: best,
    kind: 'throughput',
  });
}

// ---- 3. NIM 1.8 benchmarking page, Llama-3.1-8B ----
{
  const opts: EngineOptions = {
    model: 'Llama-3.1-8B',
    gpu: 'H100',
    weightDtype: 'fp8',
    kvCacheDtype: 'fp8',
    maxModelLen: 4096,
  };
  assumptions.push(
    'NIM rows: GPU and lengths not given in simulator.md -> assumed 1x H100 SXM, FP8 weights + FP8 KV (the TRT-LLM FP8 throughput profile), 1000 in / 1000 out, c clients started together (as vllm bench serve --max-concurrency / genai-perf do), 3c requests; NIM runs TensorRT-LLM, not vLLM',
    'NIM "TRT-LLM fp8" rows: the same runs with fp8GemmEfficiency 1.4 instead of vLLM\'s 0.7 (FP8 GEMMs at 70 % of peak), a one-parameter fit to the c=1 TTFT; shown to test whether the rest then follows',
  );
  const nim = [
    { c: 1, ttft: 10.3, itl: 4.63 },
    { c: 50, ttft: 67, itl: 5.9, tput: 8018 },
    { c: 100, ttft: 120, itl: 7.6, tput: 12215 },
    { c: 250, ttft: 606, itl: 16.1, tput: 12965 },
  ];
  for (const [label, o] of [
    ['NIM', opts],
    ['NIM TRT-LLM fp8', { ...opts, fp8GemmEfficiency: 1.4 }],
  ] as const) {
    for (const p of nim) {
      const r = drive(o, { kind: 'closed', c: p.c, n: Math.max(10, 3 * p.c) }, 1000, 1000);
      const setup = `${label} c=${p.c}`;
      rows.push({ setup, metric: 'TTFT ms', published: p.ttft, predicted: r.ttftMeanMs, kind: 'ttft' });
      rows.push({ setup, metric: 'ITL ms', published: p.itl, predicted: r.tpotMeanMs, kind: 'latency' });
      if (p.tput !== undefined) {
        rows.push({
          setup,
          metric: 'output tok/s',
          published: p.tput,
          predicted: r.outTokPerSec,
          kind: 'throughput',
        });
      }
    }
  }
}

// ---- 4. roofline predictions, H100, 8B (BF16) ----
{
  const opts: EngineOptions = { model: 'Llama-3.1-8B', gpu: 'H100', maxModelLen: 4096 };
  const one = drive(opts, { kind: 'closed', c: 1, n: 1 }, 1024, 64);
  rows.push({
    setup: 'roofline H100 BF16',
    metric: '1k prefill (TTFT) ms',
    published: 30,
    predicted: one.ttftMeanMs,
    kind: 'latency',
  });
  rows.push({
    setup: 'roofline H100 BF16',
    metric: 'decode b=1 @1k ITL ms',
    published: 7,
    predicted: one.tpotMeanMs,
    kind: 'latency',
  });
  // batch 256 at 1k context: mean step time of the pure decode steps of 256 requests
  const clock = new VirtualClock();
  const e = createEngine(opts, clock);
  const steps: number[] = [];
  e.onStep = (s) => {
    if (s.numTokens === 256 && s.numRunning === 256) steps.push(s.endMs - s.startMs);
  };
  for (let i = 0; i < 256; i++) {
    e.submit(
      { id: `b${i}`, promptTokenIds: prompt(1000), maxTokens: 48, targetOutputTokens: 48 },
      { onFinish: () => {} },
    );
  }
  clock.runUntilIdle();
  const stepMs = mean(steps);
  rows.push({
    setup: 'roofline H100 BF16',
    metric: 'b=256 @1k ms/step',
    published: 20.6,
    predicted: stepMs,
    kind: 'latency',
  });
}

// ---- report ----
function why(r: Row): string | undefined {
  if (r.setup.startsWith('NIM') && r.metric === 'TTFT ms') {
    return 'TTFT: TensorRT-LLM FP8 prefill is ~2x faster than vLLM-like FP8 GEMMs (c=1: 10.3 ms for ~1000 tokens = ~70 % of FP8 peak), and the ISL and start protocol are assumptions';
  }
  if (r.setup.startsWith('H100 FP8 MLPerf')) {
    return 'prefill-heavy: our FP8 GEMMs at 0.5 x 1979 TFLOP/s ignore the non-GEMM work (norms, rotary, activation quant) and real length variance of CNN/DailyMail';
  }
  if (r.setup.startsWith('RTX 5090 BF16 @ 10')) {
    return 'unsaturated: the figure is the offered load minus the drain tail; the published run likely had fewer or shorter outputs than 200';
  }
  if (r.setup.startsWith('RTX 5090')) {
    return 'saturated, prefill-bound: the figure is set by BF16 GEMM efficiency (spec eta_f 0.6 of 210 TFLOP/s); the published 30 req/s figure is below the 100 req/s one although both saturate, our model has one saturated level (eta_f 0.55 would put both within 10 %)';
  }
  if (r.setup.startsWith('NIM')) return 'TensorRT-LLM, not vLLM: different kernels and batching overheads';
  return undefined;
}

console.log('setup                              metric                    published   predicted   ratio  ok');
let misses = 0;
for (const r of rows) {
  const ratio = r.predicted / r.published;
  const tol = r.kind === 'ttft' ? 0.25 : 0.15;
  const ok = Math.abs(ratio - 1) <= tol;
  if (!ok) misses++;
  console.log(
    `${r.setup.padEnd(34)} ${r.metric.padEnd(24)} ${r.published.toFixed(r.published < 100 ? 2 : 0).padStart(10)} ${r.predicted
      .toFixed(r.predicted < 100 ? 2 : 0)
      .padStart(11)}  ${ratio.toFixed(2).padStart(5)}  ${ok ? 'yes' : 'NO'}`,
  );
  if (!ok) console.log(`    miss: ${why(r) ?? 'see assumptions'}`);
}
console.log(`\n${rows.length - misses}/${rows.length} within tolerance (15 %, TTFT 25 %)`);
console.log('assumptions:');
for (const a of assumptions) console.log(`  - ${a}`);

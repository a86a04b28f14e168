/**
 * Virtual-time speed of the simulated engine on the W1 orchestrator workload:
 * Nemotron-Orchestrator-8B (Qwen3-8B architecture) on one RTX 5090 (gpu_memory_utilization
 * 0.95), C concurrent agent programs for one simulated hour. A program makes 10-30 LLM calls;
 * call k's prompt is call k-1's prompt + its answer (the engine's generated token ids) + a tool
 * result (100-1000 new tokens), after a tool gap of 0.5-5 s; every program starts with the same
 * 2,500-token system prompt + tool schemas and a 200-500-token task, so prefix caching matters.
 * Answers are 30-300 tokens (tool calls), the last one 100-600. A finished program is replaced
 * at once. Driven directly against the engine (no HTTP, no harness), seeded.
 *
 *   npx tsx bench/sim-virtual-speed.ts [C ...]      (default: 32 128 512)
 */

import { mulberry32 } from '../src/random.js';
import { requestKey, syntheticOutputTokenId } from '../src/sim/block-hash.js';
import { VirtualClock } from '../src/sim/clock.js';
import { createEngine } from '../src/sim/engine.js';

const SIM_MS = 3_600_000;
const SYSTEM_TOKENS = 2500;

interface Result {
  c: number;
  wallMs: number;
  cpuMs: number;
  calls: number;
  tasks: number;
  outTokens: number;
  steps: number;
  ffSteps: number;
  preemptions: number;
  hitRate: number;
  kvMean: number;
  kvMax: number;
}

function run(c: number, seed = 1): Result {
  const clock = new VirtualClock();
  const engine = createEngine(
    { model: '/ckpt/Nemotron-Orchestrator-8B', gpu: 'RTX 5090', gpuMemoryUtilization: 0.95 },
    clock,
  );
  const seeded = mulberry32(seed);
  const rng = () => seeded.next();
  const uniform = (lo: number, hi: number) => lo + rng() * (hi - lo);
  const randInt = (lo: number, hi: number) => Math.floor(uniform(lo, hi + 1));
  let nextToken = 10_000_000;
  const system = Array.from({ length: SYSTEM_TOKENS }, (_, i) => 1024 + i);
  let calls = 0;
  let tasks = 0;
  let outTokens = 0;
  let programSeq = 0;
  let kvSum = 0;
  let kvN = 0;
  let kvMax = 0;

  const startProgram = () => {
    const pid = programSeq++;
    const steps = randInt(10, 30);
    // one growing array per program: the engine reads a prompt only while its request lives
    const tokens = system.slice();
    const task = randInt(200, 500);
    for (let i = 0; i < task; i++) tokens.push(nextToken++);
    let step = 0;
    const call = () => {
      const id = `p${pid}-s${step}`;
      const last = step === steps - 1;
      const target = last ? randInt(100, 600) : randInt(30, 300);
      calls++;
      engine.submit(
        { id, promptTokenIds: tokens, maxTokens: 4096, targetOutputTokens: target },
        {
          onFinish: (_reason, info) => {
            outTokens += info.outputTokens;
            step++;
            if (step >= steps) {
              tasks++;
              startProgram();
              return;
            }
            const key = requestKey(id);
            for (let i = 0; i < info.outputTokens; i++) tokens.push(syntheticOutputTokenId(key, i));
            const tool = randInt(100, 1000);
            for (let i = 0; i < tool; i++) tokens.push(nextToken++);
            if (tokens.length + 700 >= engine.config.maxModelLen) {
              tasks++;
              startProgram();
              return;
            }
            clock.schedule(clock.nowMs() + uniform(500, 5000), call);
          },
        },
      );
    };
    call();
  };

  // sample KV usage every 5 s like the W1 scraper
  const sample = () => {
    const u = engine.snapshot().kvUsageFrac;
    kvSum += u;
    kvN++;
    if (u > kvMax) kvMax = u;
    if (clock.nowMs() + 5000 <= SIM_MS) clock.schedule(clock.nowMs() + 5000, sample);
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < c; i++) clock.schedule(uniform(0, 5000), startProgram);
  clock.schedule(5000, sample);
  clock.runUntil(SIM_MS);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const k = engine.snapshot().counters;
  return {
    c,
    wallMs,
    cpuMs,
    calls,
    tasks,
    outTokens,
    steps: engine.stepCount,
    ffSteps: engine.fastForwardedSteps,
    preemptions: k.preemptions,
    hitRate: k.prefixQueries > 0 ? k.prefixHits / k.prefixQueries : 0,
    kvMean: kvSum / Math.max(1, kvN),
    kvMax,
  };
}

const cs = process.argv.slice(2).map(Number);
const list = cs.length > 0 ? cs : [32, 128, 512];
const probe = createEngine(
  { model: '/ckpt/Nemotron-Orchestrator-8B', gpu: 'RTX 5090', gpuMemoryUtilization: 0.95 },
  new VirtualClock(),
);
console.log(`engine: ${probe.config.model} on ${probe.config.gpu}; ${probe.startupLines.join('; ')}`);
console.log(
  'C     wall_s  sim_s/wall_s  cpu_s  sim_s/cpu_s  calls    calls/sim_s  tasks  out_tok/s  engine_steps  ff_steps  preempt  prefix_hit  kv_mean  kv_max',
);
for (const c of list) {
  const r = run(c);
  const speed = SIM_MS / r.wallMs;
  console.log(
    [
      String(r.c).padEnd(5),
      (r.wallMs / 1000).toFixed(2).padStart(6),
      speed.toFixed(0).padStart(12),
      (r.cpuMs / 1000).toFixed(2).padStart(6),
      (SIM_MS / r.cpuMs).toFixed(0).padStart(11),
      String(r.calls).padStart(7),
      (r.calls / 3600).toFixed(2).padStart(12),
      String(r.tasks).padStart(6),
      (r.outTokens / 3600).toFixed(0).padStart(10),
      String(r.steps).padStart(13),
      String(r.ffSteps).padStart(9),
      String(r.preemptions).padStart(8),
      r.hitRate.toFixed(3).padStart(11),
      r.kvMean.toFixed(3).padStart(8),
      r.kvMax.toFixed(3).padStart(7),
    ].join(' '),
  );
}

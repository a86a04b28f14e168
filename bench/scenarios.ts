/**
 * The load scenarios on the simulator in virtual time (the in-process engine, no HTTP):
 * 1. a closed-loop ramp (concurrency 1, 2, 4 ... 1024) and the knee it finds, beside the knee
 *    the simulator's own model predicts (src/loadgen/scenarios/predict.ts: the roofline step
 *    time of the steady-state batch, bounded by max_num_seqs and the KV cache, and the same
 *    knee rule);
 * 2. a 10-minute soak at the knee's concurrency, without a leak and with an injected slow leak
 *    (step time +1 % per minute, src/loadgen/scenarios/sim-drift.ts): the verdict must be
 *    stable without it and must catch it with it; and with an injected KV block leak (one in
 *    --kv-leak freed blocks never freed, the block pool's opt-in leakOneIn): KV usage creeps while
 *    the users see nothing yet, so the verdict must be drifting, with the KV evidence.
 *
 *   npm run bench -- scenarios [--leak PCT_PER_MIN] [--kv-leak ONE_IN_N] [--minutes M]
 */

import { predictClosedLoop, predictedKnee } from '../src/loadgen/scenarios/predict.js';
import { doublingLevels, rampRequests, runRamp } from '../src/loadgen/scenarios/ramp.js';
import { runSoak } from '../src/loadgen/scenarios/soak.js';
import { virtualSim } from '../src/loadgen/scenarios/virtual.js';
import { syntheticItems } from '../src/workload/synthetic.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const LEAK = arg('--leak', 1);
const MINUTES = arg('--minutes', 10);
const KV_LEAK = arg('--kv-leak', 200);
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const GPU = 'H100-SXM-80GB';
const I = 512;
const O = 128;
const engine = { model: MODEL, gpu: GPU, maxModelLen: 8192 };
// outputs uniform in [64, 192] (mean 128): users leave at different times, as in the model's steady state
const items = (k: number, count = 12_000) =>
  syntheticItems({
    count,
    input: { kind: 'fixed', value: I },
    output: { kind: 'uniform', min: 64, max: 192 },
    seed: 100 + k,
  });

const t0 = performance.now();
const sim = virtualSim({ engine });
const cfg = sim.engine.config;
console.log(
  `simulator: ${MODEL} on ${GPU}, max_num_seqs ${cfg.maxNumSeqs}, max_num_batched_tokens ${cfg.maxNumBatchedTokens}, ` +
    `KV ${cfg.kvCapacityTokens} tokens; prompts ${I}, outputs uniform 64-192 (mean ${O})\n`,
);
const levels = doublingLevels(1024);
const ramp = await runRamp(sim.runner(), {
  levels,
  items: (k) => items(k, 20_000),
  requests: rampRequests(50),
});
const conc = levels.map((l) => (l.kind === 'closed' ? l.concurrency : 0));
const pred = predictClosedLoop(sim.engine, conc, I, O);
const pk = predictedKnee(pred);
console.log(
  'level   measured out tok/s  TPOT p50 ms  waiting  KV    | predicted out tok/s  batch  bound         step ms',
);
ramp.levels.forEach((l, k) => {
  const p = pred[k]!;
  console.log(
    `${l.label.padEnd(7)} ${l.outputTokensPerS.toFixed(0).padStart(18)}  ${(l.tpotP50Ms ?? Number.NaN).toFixed(1).padStart(11)}  ` +
      `${(l.meanWaiting ?? Number.NaN).toFixed(1).padStart(7)}  ${(l.meanKvUsage ?? Number.NaN).toFixed(2)}  | ` +
      `${p.outputTokensPerS.toFixed(0).padStart(19)}  ${String(p.batch).padStart(5)}  ${p.bound.padEnd(12)}  ${p.stepMs.toFixed(2).padStart(7)}`,
  );
});
for (const p of pred.slice(ramp.levels.length))
  console.log(
    `${`c=${p.concurrency}`.padEnd(7)} ${'(not run)'.padStart(18)}  ${''.padStart(11)}  ${''.padStart(7)}        | ${p.outputTokensPerS.toFixed(0).padStart(19)}  ${String(p.batch).padStart(5)}  ${p.bound.padEnd(12)}  ${p.stepMs.toFixed(2).padStart(7)}`,
  );
console.log(`\nramp (measured):  ${ramp.knee.reason}`);
console.log(`model (predicted): ${pk.reason}`);
console.log(`rule: ${ramp.rules}\n`);

const soakC = ramp.kneeLevel?.load ?? 64;
const runs = [
  { leak: 0, kvLeak: 0 },
  { leak: LEAK, kvLeak: 0 },
  { leak: 0, kvLeak: KV_LEAK },
];
for (const { leak, kvLeak } of runs) {
  const s = virtualSim({ engine, stepDriftPctPerMin: leak, ...(kvLeak ? { kvLeakOneIn: kvLeak } : {}) });
  const w = performance.now();
  const r = await runSoak(s.runner({ sampleClient: () => process.memoryUsage() }), {
    arrivals: { kind: 'closed', concurrency: soakC },
    items: items(999, 200_000),
    durationMs: MINUTES * 60_000,
    sliceMs: 30_000,
  });
  console.log(
    `soak ${MINUTES} min at c=${soakC}, ${leak ? `injected leak: step time +${leak} %/min` : kvLeak ? `injected KV block leak: 1 in ${kvLeak} freed blocks lost` : 'no leak'}: ` +
      `${r.verdict.toUpperCase()} (${r.why}) [${((performance.now() - w) / 1000).toFixed(1)} s wall]`,
  );
  for (const x of r.series) console.log(`  [${x.group}] ${x.evidence}`);
}
console.log(
  `\nrule: soak slices of 30 s; ${'see docs/BENCHMARKS.md'}; total ${((performance.now() - t0) / 1000).toFixed(1)} s wall`,
);

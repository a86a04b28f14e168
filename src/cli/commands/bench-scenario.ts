import { parseUrlFlag } from '../../config/host.js';
import type { SecretRegistry } from '../../config/secrets.js';
import { EXIT } from '../../errors.js';
import { benchLevels } from '../../experiment/bench-levels.js';
import type { ArrivalSpec } from '../../loadgen/arrivals.js';
import {
  type boundedWorkload,
  errorShareVerdict,
  type parseBenchTimeouts,
  parseNumberFlag,
  type parsePercentiles,
} from '../../loadgen/bench-flags.js';
import { newCounters } from '../../loadgen/dispatcher.js';
import { formatProgress } from '../../loadgen/progress.js';
import type { BenchRunDir } from '../../loadgen/run-dir.js';
import type { StageResult } from '../../loadgen/run-stage.js';
import { formatScenario, type ScenarioResult } from '../../loadgen/scenarios/format.js';
import { dcgmGpuStats } from '../../loadgen/scenarios/gpu.js';
import { parseLengths } from '../../loadgen/scenarios/grid.js';
import {
  checkScenario,
  runScenario,
  type ScenarioRunOptions,
  serverMaxModelLen,
} from '../../loadgen/scenarios/run.js';
import { driftingEngineFactory } from '../../loadgen/scenarios/sim-drift.js';
import { type parseSlo, sloPercentiles } from '../../loadgen/slo.js';
import { formatSummaryTable } from '../../loadgen/summary-table.js';
import type { parseSweep } from '../../loadgen/sweep.js';
import { stageSeed } from '../../loadgen/sweep.js';
import { describeStage } from '../../loadgen/sweep-table.js';
import { buildWorkload } from '../../workload/source.js';
import type { BenchFlags } from './bench.js';
import { benchServer, openBenchRunDir } from './bench-sim.js';
import { type BenchSpecFlags, benchSpec } from './bench-spec.js';
import type { CommandContext } from './index.js';

/** Numeric flags: range-checked, each bounded by BENCH_FLAG_MAX (loadgen/bench-flags.ts). */
const num = parseNumberFlag;

/** What bench.ts's action has parsed when a scenario is asked for. */
export interface ScenarioFlowInput {
  /** the flags as a spec, before the server is known (bench.ts) */
  specFlags: BenchSpecFlags;
  seed: number;
  arrivals: ArrivalSpec;
  maxConcurrency: number | undefined;
  numPrompts: number | undefined;
  durationS: number | undefined;
  scenarioLevels: ReturnType<typeof parseSweep> | undefined;
  scenarioSlo: ReturnType<typeof parseSlo> | undefined;
  maxErrorRate: number;
  workloadOpts: ReturnType<typeof boundedWorkload>;
  workload: ReturnType<typeof buildWorkload>;
  percentiles: ReturnType<typeof parsePercentiles>;
  timeouts: ReturnType<typeof parseBenchTimeouts>;
}

/**
 * `--scenario`: the flags as the bench spec (bench-spec.ts: the given server as `kind: external`,
 * or the embedded simulator as `kind: sim`), its server started once and kept for every level
 * (experiment/bench-levels.ts), then the scenario's levels (loadgen/scenarios/run.ts), each a
 * cell run by the one cell runner into this run directory (stages/<k>/cell.json), then the
 * scenario's table and verdict. Scenarios choose their next level from the last one's result
 * (a ramp to its knee, an SLO search), so the levels are planned one at a time.
 */
export async function scenarioFlow(
  f: BenchFlags,
  io: CommandContext['io'],
  argv: readonly string[],
  secrets: SecretRegistry,
  apiKey: string | undefined,
  simStepDrift: number | undefined,
  input: ScenarioFlowInput,
): Promise<number> {
  const { seed, arrivals, maxConcurrency, numPrompts, durationS, scenarioLevels, scenarioSlo } = input;
  const { maxErrorRate, workloadOpts, workload, percentiles, timeouts } = input;
  const fl = (v: string | undefined, flag: string, o: { min?: number; max?: number } = {}) => num(v, flag, o);
  const requestRate = num(f.requestRate, '--request-rate', { inf: true });
  const sliceS = fl(f.slice, '--slice', { min: 0.001 });
  const trendAlpha = fl(f.trendAlpha, '--trend-alpha', { min: 1e-12, max: 0.5 });
  const trendTolerance = fl(f.trendTolerance, '--trend-tolerance', { min: 0, max: 10 });
  const kneeTolerance = fl(f.kneeTolerance, '--knee-tolerance', { min: 0, max: 10 });
  if (f.prometheusUrl) parseUrlFlag(f.prometheusUrl, '--prometheus-url');
  const scenario: ScenarioRunOptions = {
    scenario: f.scenario!,
    seed,
    arrivals,
    ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
    ...(requestRate !== undefined ? { requestRate } : {}),
    ...(numPrompts !== undefined ? { numPrompts } : {}),
    ...(durationS !== undefined ? { durationMs: durationS * 1000 } : {}),
    ...(scenarioLevels?.kind === 'list' ? { levels: scenarioLevels.stages } : {}),
    gridPrompts: parseLengths(f.gridPrompts ?? '512,8k,32k,128k', '--grid-prompts'),
    gridOutputs: parseLengths(f.gridOutputs ?? '128,2k', '--grid-outputs'),
    ...(sliceS !== undefined ? { sliceMs: sliceS * 1000 } : {}),
    ...(kneeTolerance !== undefined ? { kneeTolerance } : {}),
    ...(trendAlpha !== undefined ? { trendAlpha } : {}),
    ...(trendTolerance !== undefined ? { trendTolerance } : {}),
    ...(scenarioSlo ? { slo: scenarioSlo } : {}),
    maxErrorShare: maxErrorRate,
    // level k's prompts: fresh from its own seed, as many as it sends (none repeat inside a level)
    items: (k, count) => buildWorkload({ ...workloadOpts, seed: stageSeed(seed, k), count }).items,
    signal: io.signal,
    log: (t) => io.stderr(`servelab bench: ${t}\n`),
  };
  // a bad scenario flag is said before any server starts
  checkScenario(scenario);

  const { ends, api, model } = await benchServer(f, apiKey);
  const spec = benchSpec({
    ...input.specFlags,
    server: ends ? { kind: 'external', base: ends.base, model } : { kind: 'sim', model },
    api,
    // a scenario's levels have no warm-up; its SLO's percentiles are computed too
    warmup: 0,
    percentiles: [...new Set([...percentiles, ...sloPercentiles(scenarioSlo ?? [])])],
  });

  const { dir, runDir } = openBenchRunDir(f, io.cwd, argv, secrets);
  const log = (l: string) => io.stderr(`servelab bench: ${secrets.scrub(l)}\n`);
  const stages: StageResult[] = [];
  let plainTicks = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopProgress: (() => void) | undefined;
  const progress =
    f.progress !== false
      ? (text: string, final: boolean) => {
          if (io.isTTY) io.stderr(`\r\x1b[2K${text}${final ? '\n' : ''}`);
          else if (final || ++plainTicks % 10 === 0) io.stderr(`${text}\n`);
        }
      : undefined;
  const levels = benchLevels({
    spec,
    baseDir: io.cwd,
    dir,
    runDir,
    env: io.env,
    signal: io.signal,
    log,
    secrets,
    ...(apiKey ? { apiKey } : {}),
    ...(simStepDrift ? { simOverrides: { createEngine: driftingEngineFactory(simStepDrift) } } : {}),
    sampleClient: () => process.memoryUsage(),
    ...(f.prometheusUrl ? { gpu: dcgmGpuStats(f.prometheusUrl) } : {}),
    onLevelStart: (index, req) => {
      log(`stage ${index + 1}: ${req.label} (${describeStage(req.arrivals)})`);
      const counters = newCounters();
      if (progress) {
        const start = performance.now();
        const total = req.durationMs !== undefined ? undefined : req.numPrompts;
        const show = (final: boolean) =>
          progress(
            formatProgress(counters, total, (performance.now() - start) / 1000, `[stage ${index + 1}] `),
            final,
          );
        timer = setInterval(() => show(false), 1000);
        timer.unref?.();
        stopProgress = () => show(true);
      }
      return counters;
    },
    onLevelEnd: (res) => {
      if (timer) clearInterval(timer);
      timer = undefined;
      stopProgress?.();
      stopProgress = undefined;
      stages.push(res.stage);
    },
  });
  let result: ScenarioResult;
  let base = ends?.base ?? '';
  try {
    const running = await levels.start();
    base = running.endpoints.get(model)?.[0]?.baseUrl ?? base;
    if (!ends) log(`no --base-url; benchmarking the embedded simulator at ${base}`);
    if (simStepDrift) log(`injected slow leak: step time +${simStepDrift} % per minute`);
    log(`${workload.description}; ${api} ${base} model ${model}; run dir ${dir}`);
    const at = base;
    result = await runScenario(levels.run, {
      ...scenario,
      maxModelLen: () => serverMaxModelLen(at, model, apiKey),
    });
  } finally {
    if (timer) clearInterval(timer);
    await levels.close();
    runDir.close();
  }
  return scenarioOutcome({
    f,
    io,
    base,
    model,
    seed,
    workload,
    maxErrorRate,
    percentiles,
    timeouts,
    runDir,
    dir,
    result,
    stages,
  });
}

/** summary.json, the tables and the exit code of a scenario run */
function scenarioOutcome(o: {
  f: BenchFlags;
  io: CommandContext['io'];
  base: string;
  model: string;
  seed: number;
  workload: ReturnType<typeof buildWorkload>;
  maxErrorRate: number;
  percentiles: ReturnType<typeof parsePercentiles>;
  timeouts: ReturnType<typeof parseBenchTimeouts>;
  runDir: BenchRunDir;
  dir: string;
  result: ScenarioResult;
  stages: StageResult[];
}): number {
  const { f, io, result, stages, runDir, maxErrorRate, percentiles } = o;
  runDir.writeJson('summary.json', {
    v: 1,
    model: o.model,
    baseUrl: o.base,
    dataset: o.workload.description,
    timeouts: o.timeouts,
    maxErrorRate,
    scenario: result,
    promptsPerStage: 'fresh per stage: stage k draws its prompts with its own seed (stageSeed)',
    stages: stages.map((st, k) => ({ stage: k, stageSeed: stageSeed(o.seed, k), ...st.summary })),
  });
  if (f.verbose) for (const st of stages) io.stdout(formatSummaryTable(st.summary, percentiles));
  io.stdout(formatScenario(result));
  io.stdout(`run directory: ${o.dir}\n`);
  if (io.signal.aborted) return EXIT.interrupted;
  const measured = stages.reduce((a, st) => a + st.summary.counts.measured, 0);
  const okCount = stages.reduce((a, st) => a + st.summary.counts.ok, 0);
  const v = errorShareVerdict(measured, okCount, maxErrorRate);
  if (v && (v.over || okCount === 0)) {
    io.stderr(
      `servelab bench: ${v.failed} of ${measured} measured requests did not end ok (${(v.share * 100).toFixed(1)} %)\n`,
    );
    return EXIT.failed;
  }
  // a soak that is not stable, or an SLO no load met, is a failed check (exit 1), as a CI job wants
  if (result.kind === 'soak' && result.verdict !== 'stable') return EXIT.failed;
  if (result.kind === 'slo' && !result.best) return EXIT.failed;
  return EXIT.ok;
}

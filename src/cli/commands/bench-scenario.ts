/**
 * `servelab bench --scenario`: the scenario action of bench.ts (its own stages, table and verdict;
 * the same run directory and records), given the flags bench.ts has already parsed.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { parseUrlFlag } from '../../config/host.js';
import type { SecretRegistry } from '../../config/secrets.js';
import { EXIT } from '../../errors.js';
import { type ArrivalSpec, concurrencyCap } from '../../loadgen/arrivals.js';
import {
  type boundedWorkload,
  errorShareVerdict,
  type parseBenchTimeouts,
  type parseGoodput,
  parseNumberFlag,
  type parsePercentiles,
  splitEndpoint,
  timeoutsMs,
} from '../../loadgen/bench-flags.js';
import { stageSeed } from '../../loadgen/bench-run.js';
import type { RequestTemplate } from '../../loadgen/requests.js';
import { BenchRunDir, benchRunName } from '../../loadgen/run-dir.js';
import { formatScenario } from '../../loadgen/scenarios/format.js';
import { parseLengths } from '../../loadgen/scenarios/grid.js';
import { runScenario } from '../../loadgen/scenarios/run.js';
import { type parseSlo, sloPercentiles } from '../../loadgen/slo.js';
import { formatSummaryTable } from '../../loadgen/summary-table.js';
import type { parseSweep } from '../../loadgen/sweep.js';
import { autoWorkers } from '../../loadgen/workers.js';
import { buildWorkload } from '../../workload/source.js';
import type { BenchFlags } from './bench.js';
import { firstModel, startEmbeddedSimulator } from './bench-sim.js';
import type { CommandContext } from './index.js';

/** Numeric flags: range-checked, each bounded by BENCH_FLAG_MAX (loadgen/bench-flags.ts). */
const num = parseNumberFlag;

/** What bench.ts's action has parsed and set up by the time a scenario runs. */
export interface ScenarioActionInput {
  f: BenchFlags;
  io: CommandContext['io'];
  base: string;
  model: string;
  apiKey: string | undefined;
  template: RequestTemplate;
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
  fixedWorkers: number | undefined;
  grace: number;
  percentiles: ReturnType<typeof parsePercentiles>;
  goodput: ReturnType<typeof parseGoodput> | undefined;
  runDir: BenchRunDir;
  dir: string;
  metricsIntervalS: number;
  timeouts: ReturnType<typeof parseBenchTimeouts>;
}

/** `--scenario`: its own stages, table and verdict; the same run directory and records */
export async function scenarioAction(input: ScenarioActionInput): Promise<number> {
  const {
    f,
    io,
    base,
    model,
    apiKey,
    template,
    seed,
    arrivals,
    maxConcurrency,
    numPrompts,
    durationS,
    scenarioLevels,
    scenarioSlo,
    maxErrorRate,
    workloadOpts,
    workload,
    fixedWorkers,
    grace,
    percentiles,
    goodput,
    runDir,
    dir,
    metricsIntervalS,
    timeouts,
  } = input;
  const fl = (v: string | undefined, flag: string, o: { min?: number; max?: number } = {}) => num(v, flag, o);
  const requestRate = num(f.requestRate, '--request-rate', { inf: true });
  const sliceS = fl(f.slice, '--slice', { min: 0.001 });
  const trendAlpha = fl(f.trendAlpha, '--trend-alpha', { min: 1e-12, max: 0.5 });
  const trendTolerance = fl(f.trendTolerance, '--trend-tolerance', { min: 0, max: 10 });
  const kneeTolerance = fl(f.kneeTolerance, '--knee-tolerance', { min: 0, max: 10 });
  if (f.prometheusUrl) parseUrlFlag(f.prometheusUrl, '--prometheus-url');
  let plainTicks = 0;
  const { result, stages } = await runScenario({
    scenario: f.scenario!,
    base,
    ...(apiKey ? { apiKey } : {}),
    template,
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
    workers: (a) => fixedWorkers ?? autoWorkers(concurrencyCap(a)),
    signal: io.signal,
    graceMs: grace * 1000,
    percentiles: [...new Set([...percentiles, ...sloPercentiles(scenarioSlo ?? [])])],
    ...(goodput ? { goodput } : {}),
    onRecord: (r) => runDir.append(r),
    runDir: dir,
    serverMetrics: f.serverMetrics !== false,
    metricsIntervalMs: metricsIntervalS * 1000,
    ...(f.prometheusUrl ? { prometheusUrl: f.prometheusUrl } : {}),
    memory: () => process.memoryUsage(),
    log: (t) => io.stderr(`servelab bench: ${t}\n`),
    ...(f.progress !== false
      ? {
          progress: (text: string, final: boolean) => {
            if (io.isTTY) io.stderr(`\r\x1b[2K${text}${final ? '\n' : ''}`);
            else if (final || ++plainTicks % 10 === 0) io.stderr(`${text}\n`);
          },
        }
      : {}),
  });
  runDir.writeJson('summary.json', {
    v: 1,
    model,
    baseUrl: base,
    dataset: workload.description,
    timeouts,
    maxErrorRate,
    scenario: result,
    promptsPerStage: 'fresh per stage: stage k draws its prompts with its own seed (stageSeed)',
    stages: stages.map((st, k) => ({ stage: k, stageSeed: stageSeed(seed, k), ...st.summary })),
  });
  if (f.verbose) for (const st of stages) io.stdout(formatSummaryTable(st.summary, percentiles));
  io.stdout(formatScenario(result));
  io.stdout(`run directory: ${dir}\n`);
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

/** What bench.ts has parsed when a scenario is asked for (the rest of ScenarioActionInput is made here). */
export type ScenarioFlowInput = Omit<
  ScenarioActionInput,
  'f' | 'io' | 'base' | 'model' | 'apiKey' | 'template' | 'runDir' | 'dir'
> & { extraBody: Record<string, unknown> | undefined; headers: Record<string, string> };

/**
 * `--scenario`: the server (the given one, or the embedded simulator for the whole scenario),
 * the request template and the run directory, then the scenario's own stages (scenarioAction).
 * Scenarios choose their next level from the last one's result (a ramp to its knee, an SLO
 * search) and run their stages through loadgen/scenarios/run.ts, not through the cell runner.
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
  let stopSim: (() => Promise<void>) | undefined;
  let baseUrl = f.baseUrl;
  let simModel: string | undefined;
  if (!baseUrl) {
    const sim = await startEmbeddedSimulator(f.model, (l) => io.stderr(`sim: ${l}\n`), simStepDrift);
    baseUrl = sim.url;
    simModel = sim.model;
    stopSim = sim.stop;
    io.stderr(`servelab bench: no --base-url; benchmarking the embedded simulator at ${baseUrl}\n`);
  }
  try {
    const { base, api } = splitEndpoint(baseUrl, f.endpoint, f.backend);
    const model = simModel ?? f.model ?? (await firstModel(base, apiKey));
    const template: RequestTemplate = {
      endpoint: { baseUrl: base, model, label: new URL(base).host },
      api,
      stream: f.stream,
      minTokens: f.minTokens,
      ignoreEos: f.ignoreEos === true,
      ...(f.temperature !== undefined
        ? { temperature: num(f.temperature, '--temperature', { min: 0 })! }
        : {}),
      ...(input.extraBody ? { extraBody: input.extraBody } : {}),
      ...(Object.keys(input.headers).length ? { extraHeaders: input.headers } : {}),
      ...(apiKey ? { apiKey } : {}),
      timeouts: timeoutsMs(input.timeouts),
    };
    const createdAt = new Date();
    const name = benchRunName(createdAt);
    const dir = f.out
      ? resolve(io.cwd, f.out)
      : join(isAbsolute(f.resultDir ?? 'runs') ? f.resultDir! : resolve(io.cwd, f.resultDir ?? 'runs'), name);
    const runDir = new BenchRunDir(dir, name, argv, createdAt, secrets);
    io.stderr(
      `servelab bench: ${input.workload.description}; ${api} ${base} model ${model}; run dir ${dir}\n`,
    );
    try {
      return await scenarioAction({ ...input, f, io, base, model, apiKey, template, runDir, dir });
    } finally {
      runDir.close();
    }
  } finally {
    await stopSim?.();
  }
}

import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { resolveApiKey } from '../../client/api-key.js';
import {
  redact,
  SecretRegistry,
  secretsFromBody,
  secretsFromHeaders,
  secretsFromUrl,
} from '../../config/secrets.js';
import { EXIT, ServelabError } from '../../errors.js';
import { runBenchSeries } from '../../experiment/bench-series.js';
import { arrivalsFromFlags } from '../../loadgen/arrivals.js';
import {
  BENCH_MAX_ERROR_RATE_DEFAULT,
  BENCH_TIMEOUT_DEFAULTS_S,
  boundedWorkload,
  errorShareVerdict,
  parseBenchTimeouts,
  parseGoodput,
  parseMaxErrorRate,
  parseNumberFlag,
  parsePercentiles,
} from '../../loadgen/bench-flags.js';
import { type LiveCounters, newCounters } from '../../loadgen/dispatcher.js';
import { formatProgress } from '../../loadgen/progress.js';
import { redactArgs } from '../../loadgen/run-dir.js';
import { SCENARIOS } from '../../loadgen/scenarios/run.js';
import { driftingEngineFactory } from '../../loadgen/scenarios/sim-drift.js';
import { parseSlo } from '../../loadgen/slo.js';
import { formatSummaryTable } from '../../loadgen/summary-table.js';
import { parseSweep, stageSeed } from '../../loadgen/sweep.js';
import { describeStage, formatSweepTable } from '../../loadgen/sweep-table.js';
import { shellQuote } from '../../shell-quote.js';
import { buildWorkload, type DatasetName } from '../../workload/source.js';
import { HEADER_SYNTAX, parseHeaders } from '../headers.js';
import { scenarioFlow } from './bench-scenario.js';
import { benchServer, openBenchRunDir } from './bench-sim.js';
import { type BenchSpecFlags, benchSpec } from './bench-spec.js';
import type { CommandContext } from './index.js';

export interface BenchFlags {
  baseUrl?: string;
  endpoint: string;
  backend?: string;
  model?: string;
  datasetName?: string;
  datasetPath?: string;
  randomInputLen?: string;
  randomOutputLen?: string;
  randomRangeRatio?: string;
  inputDist?: string;
  outputDist?: string;
  prefixGroups?: string;
  promptsPerGroup?: string;
  prefixLen?: string;
  sharegptOutputLen?: string;
  suite?: string;
  numPrompts?: string;
  requestRate?: string;
  burstiness?: string;
  constantRate?: boolean;
  maxConcurrency?: string;
  duration?: string;
  warmup?: string;
  sweep?: string;
  goodput?: string[];
  percentiles?: string;
  metricPercentiles?: string;
  seed: string;
  ignoreEos?: boolean;
  minTokens: boolean;
  stream: boolean;
  temperature?: string;
  resultDir?: string;
  out?: string;
  saveResult?: boolean;
  resultFilename?: string;
  apiKeyEnv: string;
  apiKeyFile?: string;
  header?: string[];
  extraBody?: string;
  timeout?: string;
  firstByteTimeout?: string;
  idleTimeout?: string;
  maxErrorRate?: string;
  workers?: string;
  grace: string;
  progress: boolean;
  verbose?: boolean;
  serverMetrics: boolean;
  metricsInterval: string;
  scenario?: string;
  slo?: string;
  levels?: string;
  gridPrompts?: string;
  gridOutputs?: string;
  slice?: string;
  kneeTolerance?: string;
  trendAlpha?: string;
  trendTolerance?: string;
  prometheusUrl?: string;
  simStepDrift?: string;
  printSpec?: boolean;
}

/** Numeric flags: range-checked, each bounded by BENCH_FLAG_MAX (loadgen/bench-flags.ts). */
const num = parseNumberFlag;

export function registerBench(program: Command, ctx: CommandContext): void {
  program
    .command('bench')
    .description(
      'serving benchmark with vLLM-bench-like flags; without --base-url, benchmarks the embedded simulator',
    )
    .option(
      '--base-url <url>',
      'server root, e.g. http://127.0.0.1:8000 (default: start the embedded simulator)',
    )
    .option('--endpoint <path>', 'API path', '/v1/chat/completions')
    .option(
      '--backend <name>',
      'openai-chat (chat completions) or openai (completions); overrides --endpoint',
    )
    .option('--model <name>', 'model name (default: the first of /v1/models)')
    .option('--dataset-name <name>', 'random | sharegpt | jsonl | prefix')
    .option('--dataset-path <file>', 'ShareGPT JSON/JSONL or a JSONL of prompts / messages')
    .option('--random-input-len <n>', 'random dataset: input tokens', '1024')
    .option('--random-output-len <n>', 'output tokens (random and prefix datasets; JSONL default)', '128')
    .option('--random-range-ratio <r>', 'lengths uniform in [len*(1-r), len*(1+r)]', '0')
    .option(
      '--input-dist <dist>',
      'input length distribution: fixed:N uniform:A-B normal:M,S lognormal:M,SIGMA',
    )
    .option('--output-dist <dist>', 'output length distribution (same forms)')
    .option('--prefix-groups <n>', 'prefix dataset: groups sharing a prefix', '10')
    .option('--prompts-per-group <n>', 'prefix dataset: prompts per group')
    .option('--prefix-len <n>', 'prefix dataset: shared prefix tokens', '1024')
    .option('--sharegpt-output-len <n>', 'force the output length of ShareGPT items')
    .option(
      '--suite <name>',
      'W3 suite: quick_test | medium_balanced | large_throughput | short_latency | long_context',
    )
    .option('--num-prompts <n>', 'measured requests (default: the dataset size, 1000 for random)')
    .option('--request-rate <r>', 'requests/s (Poisson unless --burstiness / --constant-rate), or inf', 'inf')
    .option('--burstiness <b>', 'gamma shape of inter-arrival times: 1 = Poisson, < 1 burstier', '1')
    .option('--constant-rate', 'evenly spaced arrivals at --request-rate')
    .option('--max-concurrency <n>', 'closed loop (with rate inf) or a cap on requests in flight')
    .option('--duration <s>', 'measure for this many seconds instead of --num-prompts')
    .option('--warmup <n>', 'warm-up requests before measuring (recorded, excluded)', '0')
    .option('--sweep <list>', 'rates 1,2,4 | concurrencies c1,c8,c64 | auto[:N]')
    .option('--goodput <slo...>', 'SLOs in ms: ttft:500 tpot:50 e2el:2000')
    .option('--percentiles <list>', 'latency percentiles', '50,90,95,99')
    .addOption(new Option('--metric-percentiles <list>', "vLLM's name for --percentiles").hideHelp())
    .option('--seed <n>', 'seed of the dataset and the arrivals', '0')
    .option('--ignore-eos', 'send ignore_eos (vLLM): generate exactly max_tokens')
    .option('--no-min-tokens', 'do not send min_tokens (for servers that reject it)')
    .option('--no-stream', 'non-streamed requests (no TTFT / ITL)')
    .option('--temperature <t>', 'sampling temperature')
    .option('--result-dir <dir>', 'parent of the run directory', 'runs')
    .option('--out <dir>', 'exact run directory (instead of --result-dir/bench-<UTC time>)')
    .option('--save-result', "also write vLLM's result JSON (--result-filename) in the run directory")
    .option('--result-filename <file>', "file name of vLLM's result JSON", 'vllm-result.json')
    .option('--api-key-env <name>', 'environment variable holding the API key', 'OPENAI_API_KEY')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .option(`--header <${HEADER_SYNTAX}...>`, 'extra HTTP header (repeatable; "name: value" too)')
    .option('--extra-body <json>', 'JSON object merged into every request body')
    .option('--timeout <s>', 'total timeout per request, seconds (default: none; 0 = none)')
    .option(
      '--first-byte-timeout <s>',
      `send -> first byte of the stream (--no-stream: the whole answer), seconds; 0 = none (default ${BENCH_TIMEOUT_DEFAULTS_S.firstByte})`,
    )
    .option(
      '--idle-timeout <s>',
      `longest silence of a stream after its first byte, seconds; 0 = none (default ${BENCH_TIMEOUT_DEFAULTS_S.idle})`,
    )
    .option(
      '--max-error-rate <r>',
      `exit 1 when more than this share of measured requests did not end ok (default ${BENCH_MAX_ERROR_RATE_DEFAULT}; 1 = never)`,
    )
    .option('--workers <n|auto>', 'worker threads running the HTTP load (0 = this thread)', 'auto')
    .option('--grace <s>', 'after Ctrl-C, seconds in-flight requests get before they are cut', '5')
    .option('--no-progress', 'no progress line on stderr')
    .option('--verbose', "--sweep: each stage's full result block before the table of stages")
    .option('--no-server-metrics', "do not read the server's /metrics (preemptions, prefix hits, KV usage)")
    .option('--metrics-interval <s>', 'KV usage / queue sampling interval during the run, seconds', '1')
    .option(
      '--scenario <name>',
      `load scenario: ${SCENARIOS.join(' | ')} (ramp to the knee; prompt x output grid; soak --duration with a drift verdict; highest load meeting --slo)`,
    )
    .option(
      '--slo <thresholds>',
      'SLO as data, e.g. ttft:P99<2000ms,tpot:P99<50ms (ramp: part of the knee rule)',
    )
    .option(
      '--levels <list>',
      'ramp levels: c1,c2,c4 or rates 1,2,4 (default: concurrency 1, 2, 4 ... --max-concurrency or 256)',
    )
    .option('--grid-prompts <list>', 'grid prompt lengths (k = 1000, Ki = 1024)', '512,8k,32k,128k')
    .option('--grid-outputs <list>', 'grid output lengths', '128,2k')
    .option('--slice <s>', 'soak: time slice of the trend tests, seconds (default: --duration / 20)')
    .option('--knee-tolerance <r>', 'ramp: throughput growth below this share is saturation', '0.05')
    .option('--trend-alpha <a>', 'soak: significance level of the Mann-Kendall tests', '0.01')
    .option(
      '--trend-tolerance <r>',
      'soak: smallest change over the run that counts, share of the median',
      '0.05',
    )
    .option(
      '--prometheus-url <url>',
      'scenarios: GPU utilisation and memory from DCGM series in this Prometheus',
    )
    .option(
      '--sim-step-drift <pct>',
      'embedded simulator only: its step time grows this many percent per minute (an injected slow leak)',
    )
    .option('--print-spec', 'print these flags as a spec file (servelab run / sweep) and exit')
    .action(async (flags: BenchFlags, cmd: Command) => {
      ctx.setExit(
        await benchAction(flags, ctx, (cmd.parent as unknown as { rawArgs?: string[] })?.rawArgs ?? []),
      );
    });
}

async function benchAction(f: BenchFlags, ctx: CommandContext, argv: readonly string[]): Promise<number> {
  const io = ctx.io;
  const seed = num(f.seed, '--seed', { int: true, min: 0 })!;
  const percentiles = parsePercentiles(f.metricPercentiles ?? f.percentiles ?? '50,90,95,99');
  const goodput = f.goodput ? parseGoodput(f.goodput) : undefined;
  const numPrompts = num(f.numPrompts, '--num-prompts', { int: true, min: 1 });
  const durationS = num(f.duration, '--duration', { min: 0.001 });
  if (numPrompts !== undefined && durationS !== undefined)
    throw new ServelabError('BAD_FLAG', '--num-prompts and --duration both given', {
      hint: 'measure a count of requests or a duration, not both',
    });
  const maxConcurrency = num(f.maxConcurrency, '--max-concurrency', { int: true, min: 1 });
  const burstiness = num(f.burstiness, '--burstiness', { min: 0 });
  const arrivals = arrivalsFromFlags({
    requestRate: num(f.requestRate, '--request-rate', { inf: true }),
    ...(burstiness !== undefined ? { burstiness } : {}),
    ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
    ...(f.constantRate ? { constant: true } : {}),
  });
  const sweep = f.sweep
    ? parseSweep(f.sweep, {
        ...(burstiness !== undefined ? { burstiness } : {}),
        ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
      })
    : undefined;
  const warmup = num(f.warmup, '--warmup', { int: true, min: 0 })!;
  const grace = num(f.grace, '--grace', { min: 0 })!;
  const metricsIntervalS = num(f.metricsInterval, '--metrics-interval', { min: 0.1 })!;
  let extraBody: Record<string, unknown> | undefined;
  if (f.extraBody) {
    try {
      extraBody = JSON.parse(f.extraBody) as Record<string, unknown>;
    } catch (cause) {
      throw new ServelabError('BAD_FLAG', `--extra-body is not JSON: ${(cause as Error).message}`, {
        hint: `e.g. --extra-body '{"chat_template_kwargs": {"enable_thinking": false}}'`,
        cause,
      });
    }
    if (!extraBody || typeof extraBody !== 'object' || Array.isArray(extraBody))
      throw new ServelabError('BAD_FLAG', '--extra-body must be a JSON object');
  }
  const headers = parseHeaders(f.header);
  const timeouts = parseBenchTimeouts(f);
  const maxErrorRate = parseMaxErrorRate(f.maxErrorRate);
  const workloadOpts = boundedWorkload({
    seed,
    ...(f.datasetName !== undefined ? { datasetName: f.datasetName as DatasetName } : {}),
    ...(f.datasetPath !== undefined ? { datasetPath: resolve(io.cwd, f.datasetPath) } : {}),
    ...(f.suite !== undefined ? { suite: f.suite } : {}),
    ...(numPrompts !== undefined ? { count: numPrompts } : {}),
    randomInputLen: num(f.randomInputLen, '--random-input-len', { int: true, min: 1 })!,
    randomOutputLen: num(f.randomOutputLen, '--random-output-len', { int: true, min: 1 })!,
    randomRangeRatio: num(f.randomRangeRatio, '--random-range-ratio', { min: 0 })!,
    ...(f.inputDist ? { inputDist: f.inputDist } : {}),
    ...(f.outputDist ? { outputDist: f.outputDist } : {}),
    prefixGroups: num(f.prefixGroups, '--prefix-groups', { int: true, min: 1 })!,
    ...(f.promptsPerGroup
      ? { promptsPerGroup: num(f.promptsPerGroup, '--prompts-per-group', { int: true, min: 1 })! }
      : {}),
    prefixLen: num(f.prefixLen, '--prefix-len', { int: true, min: 1 })!,
    ...(f.sharegptOutputLen
      ? { sharegptOutputLen: num(f.sharegptOutputLen, '--sharegpt-output-len', { int: true, min: 1 })! }
      : {}),
  });
  const workload = buildWorkload(workloadOpts);
  // a sweep's later stages draw fresh prompts (their own seed), not stage 1's again from the prefix cache
  const fromFile = workloadOpts.suite === undefined && workloadOpts.datasetPath !== undefined;
  const promptsPerStage = fromFile
    ? 'the dataset file reshuffled per stage (seed per stage): prompts a stage repeats can hit the prefix cache'
    : "fresh per stage: stage k (from 2) draws its prompts with its own seed (stageSeed in summary.json's stages)";
  const scenarioSlo = f.slo ? parseSlo(f.slo) : undefined;
  const scenarioLevels = f.levels
    ? parseSweep(f.levels, {
        ...(burstiness !== undefined ? { burstiness } : {}),
        ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
      })
    : undefined;
  if (scenarioLevels?.kind === 'auto')
    throw new ServelabError('BAD_FLAG', `--levels "${f.levels}": give the levels (c1,c2,c4 or 1,2,4)`, {
      hint: '--sweep auto is a sweep, not a ramp',
    });
  if (f.scenario && f.printSpec)
    throw new ServelabError('BAD_FLAG', '--print-spec and --scenario both given', {
      hint: "a scenario chooses its levels as it runs (no fixed spec); --print-spec prints a plain bench's or a --sweep's",
    });
  if (f.scenario && sweep)
    throw new ServelabError('BAD_FLAG', '--scenario and --sweep both given', {
      hint: "a scenario runs its own stages; --levels sets a ramp's",
    });
  const simStepDrift = num(f.simStepDrift, '--sim-step-drift', { min: 0 });
  if (simStepDrift && f.baseUrl)
    throw new ServelabError('BAD_FLAG', '--sim-step-drift applies to the embedded simulator only', {
      hint: 'leave out --base-url, or --sim-step-drift',
    });
  const workersFlag = f.workers ?? 'auto';
  const fixedWorkers =
    workersFlag === 'auto' ? undefined : num(workersFlag, '--workers', { int: true, min: 0 });
  const apiKey = resolveApiKey(
    { envName: f.apiKeyEnv, ...(f.apiKeyFile ? { file: resolve(io.cwd, f.apiKeyFile) } : {}) },
    io.env,
  );
  // every key this bench was given, from any flag, is scrubbed from its files and its output
  const secrets = io.secrets ?? new SecretRegistry();
  secrets.add(apiKey);
  secrets.addAll(secretsFromHeaders(headers));
  if (f.baseUrl) secrets.addAll(secretsFromUrl(f.baseUrl));
  if (extraBody) secrets.addAll(secretsFromBody(extraBody));

  // the flags as a spec (bench-spec.ts): the server and model are added once known
  const specFlags: BenchSpecFlags = {
    workload: workloadOpts,
    ...(numPrompts !== undefined ? { numPrompts } : {}),
    ...(durationS !== undefined ? { durationS } : {}),
    warmup,
    arrivals,
    ...(sweep ? { sweep } : {}),
    ...(burstiness !== undefined ? { burstiness } : {}),
    ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
    stream: f.stream,
    minTokens: f.minTokens,
    ignoreEos: f.ignoreEos === true,
    ...(f.temperature !== undefined ? { temperature: num(f.temperature, '--temperature', { min: 0 })! } : {}),
    ...(extraBody ? { extraBody } : {}),
    headers,
    ...(f.apiKeyFile
      ? { apiKey: { file: resolve(io.cwd, f.apiKeyFile) } }
      : apiKey
        ? { apiKey: { env: f.apiKeyEnv } }
        : {}),
    timeouts,
    percentiles,
    ...(goodput ? { goodput } : {}),
    workers: fixedWorkers ?? 'auto',
    graceS: grace,
    maxErrorRate,
    serverMetrics: f.serverMetrics !== false,
    metricsIntervalS,
    seed,
  };

  if (f.scenario) {
    return scenarioFlow(f, io, argv, secrets, apiKey, simStepDrift, {
      specFlags,
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
      percentiles,
      timeouts,
    });
  }

  const { ends, api, model } = await benchServer(f, apiKey);
  const spec = benchSpec({
    ...specFlags,
    server: ends ? { kind: 'external', base: ends.base, model } : { kind: 'sim', model },
    api,
  });
  if (f.printSpec) {
    io.stdout(
      secrets.scrub(
        `# servelab bench ${redactArgs(argv.slice(argv.indexOf('bench') + 1))
          .map(shellQuote)
          .join(' ')}\n` +
          `# as a spec: servelab run FILE (every stage a cell of its own run directory)\n${toYaml(redact(secrets.scrubValue(spec)))}`,
      ),
    );
    return EXIT.ok;
  }
  const base = ends?.base;
  const { dir, runDir } = openBenchRunDir(f, io.cwd, argv, secrets);
  io.stderr(
    `servelab bench: ${workload.description}; ${api} ${base ?? 'the embedded simulator (simulated vLLM on 127.0.0.1)'} model ${model}; run dir ${dir}\n`,
  );
  if (!base) io.stderr('servelab bench: no --base-url; benchmarking the embedded simulator\n');

  let counters: LiveCounters = newCounters();
  let stageStart = performance.now();
  let stageTotal: number | undefined;
  let stageLabel = '';
  const printProgress = (final = false) => {
    const text = formatProgress(counters, stageTotal, (performance.now() - stageStart) / 1000, stageLabel);
    if (io.isTTY) io.stderr(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else io.stderr(`${text}\n`);
  };
  let lastPlain = 0;
  const timer =
    f.progress !== false
      ? setInterval(
          () => {
            if (io.isTTY) printProgress();
            else if (performance.now() - lastPlain >= 10_000) {
              lastPlain = performance.now();
              printProgress();
            }
          },
          io.isTTY ? 500 : 1000,
        )
      : undefined;
  timer?.unref?.();
  let result: Awaited<ReturnType<typeof runBenchSeries>>;
  try {
    result = await runBenchSeries({
      spec,
      baseDir: io.cwd,
      dir,
      runDir,
      env: io.env,
      signal: io.signal,
      log: (l) => io.stderr(`servelab bench: ${secrets.scrub(l)}\n`),
      secrets,
      ...(apiKey ? { apiKey } : {}),
      ...(simStepDrift ? { simOverrides: { createEngine: driftingEngineFactory(simStepDrift) } } : {}),
      ...(sweep?.kind === 'auto'
        ? { auto: { rates: sweep.rates, maxConcurrency: sweep.maxConcurrency } }
        : {}),
      onStageStart: (stage, planned, a, requests) => {
        counters = newCounters();
        stageStart = performance.now();
        lastPlain = performance.now();
        stageTotal = requests;
        stageLabel = sweep ? `[stage ${stage + 1}/${planned}] ` : '';
        if (sweep) io.stderr(`servelab bench: stage ${stage + 1}/${planned}: ${describeStage(a)}\n`);
        return counters;
      },
      onStageEnd: () => {
        if (f.progress !== false) printProgress(true);
      },
    });
  } finally {
    if (timer) clearInterval(timer);
    runDir.close();
  }
  if (result.failed && result.stages.length === 0) {
    const why = result.failed.failure;
    throw new ServelabError(
      why?.phase === 'launch' ? 'LAUNCH_FAILED' : 'BAD_CONFIG',
      `the benchmark could not run: ${why?.message ?? 'its stage failed'}`,
      why?.hint ? { hint: why.hint } : {},
    );
  }
  const stages = result.stages;
  const baseUrl = base ?? stages[0]?.summary.server?.url?.replace(/\/metrics$/, '');
  // the limits the requests ran under, stated with the results they shaped
  const limitsJson = { timeouts, maxErrorRate };
  if (stages.length === 1 && !sweep) {
    const st = stages[0]!.summary;
    runDir.writeJson('summary.json', {
      ...st,
      model,
      ...(baseUrl ? { baseUrl } : {}),
      dataset: workload.description,
      ...limitsJson,
    });
    io.stdout(formatSummaryTable(st, percentiles));
  } else {
    runDir.writeJson('summary.json', {
      v: 1,
      model,
      ...(baseUrl ? { baseUrl } : {}),
      dataset: workload.description,
      ...limitsJson,
      sweep: f.sweep,
      promptsPerStage,
      ...(result.stoppedEarly ? { stoppedEarly: result.stoppedEarly } : {}),
      ...(result.failed?.failure ? { failedStage: result.failed.failure } : {}),
      stages: stages.map((st, k) => ({ stage: k, stageSeed: stageSeed(seed, k), ...st.summary })),
    });
    if (f.verbose) for (const st of stages) io.stdout(formatSummaryTable(st.summary, percentiles));
    io.stdout(formatSweepTable(stages));
    io.stdout(`prompts: ${promptsPerStage}\n`);
    if (result.stoppedEarly) io.stdout(`sweep: ${result.stoppedEarly}\n`);
    if (result.failed?.failure) io.stdout(`sweep: a stage failed: ${result.failed.failure.message}\n`);
  }
  if (f.saveResult) {
    const last = stages.at(-1)?.summary;
    if (last) {
      const vllm = Object.fromEntries(
        Object.entries(last).filter(([, v]) => typeof v !== 'object' || v === null),
      );
      runDir.writeJson(f.resultFilename ?? 'vllm-result.json', {
        ...vllm,
        model_id: model,
        backend: api === 'chat' ? 'openai-chat' : 'openai',
      });
    }
  }
  io.stdout(`run directory: ${dir}\n`);
  if (io.signal.aborted) return EXIT.interrupted;
  if (result.failed) return EXIT.failed;
  return errorShareExit(io, stages, maxErrorRate);
}

/** exit 1 when more than --max-error-rate of the measured requests did not end ok */
function errorShareExit(
  io: CommandContext['io'],
  stages: readonly { summary: { counts: { measured: number; ok: number } } }[],
  maxErrorRate: number,
): number {
  const measured = stages.reduce((s, st) => s + st.summary.counts.measured, 0);
  const ok = stages.reduce((s, st) => s + st.summary.counts.ok, 0);
  const verdict = errorShareVerdict(measured, ok, maxErrorRate);
  if (verdict && (verdict.over || ok === 0)) {
    io.stderr(
      `servelab bench: ${verdict.failed} of ${measured} measured requests did not end ok ` +
        `(${(verdict.share * 100).toFixed(1)} %${verdict.over ? `, over --max-error-rate ${maxErrorRate}` : ''}): ` +
        'the figures describe a failing server; see errorByKind in summary.json\n',
    );
    return EXIT.failed;
  }
  return EXIT.ok;
}

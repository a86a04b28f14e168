/**
 * The run lifecycle of an agent experiment: for each arm x concurrency x repetition, fresh
 * servers -> preflight -> KV sampler + driver -> teardown -> cell.json + summary.json. Ctrl-C
 * marks the current cell interrupted, keeps every record and stops the matrix; `resume`
 * continues at the first cell that is not complete.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { driveCell } from '../agent/driver.js';
import { JsonlWriter } from '../agent/jsonl-writer.js';
import { PoolSet } from '../agent/pool.js';
import type { StepRecord, TaskRecord } from '../agent/records.js';
import type { ProgramConfig, ProgramContext } from '../agent/runtime.js';
import type { LoadedSpec } from '../config/load.js';
import { redact, resolveSecret, SecretRegistry, scrubFiles, secretsFromSpec } from '../config/secrets.js';
import type { ArmSpec, Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { Transport } from '../loadgen/transport.js';
import type { FetchText } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { startSampler } from '../metrics/sampler.js';
import {
  type CellCounts,
  type CellFailure,
  type CellJson,
  type EnvironmentJson,
  isRunDir,
  readCellForResume,
  readEnvironment,
  readRunJson,
  writeCellJson,
  writeEnvironment,
  writeRunJson,
  writeSpecYaml,
} from '../rundir/run-dir.js';
import type { StartSimOptions } from '../sim/server/index.js';
import { SERVELAB_VERSION } from '../version.js';
import { preflight, serverVersions } from './preflight.js';
import { lastKv, progressLine } from './progress.js';
import { launchProblems, type RunningServers, readTopology, startServers } from './servers.js';
import { CellTally } from './summary.js';
import { buildWorkload } from './workload.js';

export interface RunExperimentOptions {
  loaded: LoadedSpec;
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** one progress / note line (no newline) */
  log: (line: string) => void;
  resumeDir?: string;
  replay?: string;
  /** test hook: the transport of servers that speak HTTP (default: the launcher's, createHttpTransport) */
  makeTransport?: (concurrency: number) => Transport & { close?: () => Promise<void> };
  progressIntervalMs?: number;
  simOverrides?: Partial<StartSimOptions>;
  /** the invocation's secrets; the spec's are added, and every file of the run is scrubbed of them */
  secrets?: SecretRegistry;
  /** sim servers listen on the topology's ports even where the spec says freePorts (--w1-ports) */
  topologyPorts?: boolean;
  now?: () => number;
}

export interface CellResult {
  id: string;
  arm: string;
  concurrency: number;
  rep: number;
  status: 'complete' | 'interrupted' | 'failed';
  /** the driver's counts; absent when nothing was measured (the servers did not launch) */
  counts?: CellCounts;
  /** complete before this invocation (resume): not run again */
  alreadyComplete?: boolean;
  failure?: CellFailure;
}

/** Every cell of an arm failed to launch its servers: the matrix stopped there. */
export interface LaunchFailure {
  arm: string;
  cells: string[];
  /** the distinct reasons (usually one) */
  reasons: { message: string; hint?: string }[];
}

export interface RunExperimentResult {
  runDir: string;
  cells: CellResult[];
  interrupted: boolean;
  /** things that make arms not comparable (e.g. different server versions) */
  warnings: string[];
  /** set when the matrix stopped because no cell of an arm could launch its servers */
  launchFailure?: LaunchFailure;
}

const monotonicNow = () => performance.timeOrigin + performance.now();

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function cellIds(spec: Spec): { id: string; arm: ArmSpec; concurrency: number; rep: number }[] {
  const out: { id: string; arm: ArmSpec; concurrency: number; rep: number }[] = [];
  for (const arm of spec.arms)
    for (const c of spec.concurrency)
      for (let rep = 1; rep <= spec.repetitions; rep++)
        out.push({ id: `${arm.name}/c${c}/r${rep}`, arm, concurrency: c, rep });
  return out;
}

export async function runExperiment(opts: RunExperimentOptions): Promise<RunExperimentResult> {
  const { spec, baseDir } = opts.loaded;
  const now = opts.now ?? monotonicNow;
  const apiKey = spec.agent.apiKey ? resolveSecret(spec.agent.apiKey, opts.env, baseDir) : undefined;
  // the key and every secret in the recipes (argv --api-key values, env tokens) never reach a file
  const secrets = opts.secrets ?? new SecretRegistry();
  secrets.add(apiKey);
  secrets.addAll(secretsFromSpec(spec));
  const cells = cellIds(spec);
  // a recipe whose executable is missing fails every cell: say so before anything is written
  assertLaunchable(spec, opts.env);
  assertTopologies(spec, baseDir);
  let runDir: string;
  if (opts.resumeDir) {
    runDir = resolve(opts.cwd, opts.resumeDir);
    if (!isRunDir(runDir))
      throw new ServelabError('NOT_FOUND', `${runDir} is not a run directory (no run.json)`, {
        hint: 'pass the directory `servelab run` printed as "run directory: ..."',
      });
    const recorded = readRunJson(runDir);
    const want = cells.map((c) => c.id);
    if (recorded?.cells && recorded.cells.join(',') !== want.join(',')) {
      throw new ServelabError(
        'BAD_FLAG',
        `${opts.loaded.file} does not describe the run in ${runDir}: its cells are ${recorded.cells.join(', ')}, the spec's ${want.join(', ')}`,
        { hint: 'resume with the spec the run was started with (a copy is in its spec.yaml)' },
      );
    }
  } else {
    runDir = join(resolve(opts.cwd, spec.outDir), `${spec.name}-${stamp(new Date())}`);
    mkdirSync(runDir, { recursive: true });
    writeRunJson(
      runDir,
      secrets.scrubValue({
        v: 1,
        kind: 'agent',
        name: spec.name,
        createdAt: new Date().toISOString(),
        servelabVersion: SERVELAB_VERSION,
        cells: cells.map((c) => c.id),
        ...(opts.replay ? { replay: opts.replay } : {}),
      }),
    );
    writeSpecYaml(
      runDir,
      secrets.scrub(
        `# resolved from ${opts.loaded.file}; relative paths below resolve against ${baseDir}\n${toYaml(redact(secrets.scrubValue(spec)))}`,
      ),
    );
  }
  const previous = readEnvironment(runDir);
  const environment: EnvironmentJson = writeEnvironment(
    runDir,
    secrets.scrubValue({
      v: 1,
      servelabVersion: SERVELAB_VERSION,
      node: process.version,
      platform: process.platform,
      host: hostname(),
      ...previous,
      servers: Array.isArray(previous?.servers) ? (previous.servers as EnvironmentJson['servers']) : [],
    } as EnvironmentJson),
  );

  const results: CellResult[] = [];
  let interrupted = false;
  let launchFailure: LaunchFailure | undefined;
  for (const cell of cells) {
    const dir = join(runDir, cell.id);
    const prev = readCellForResume(dir);
    if (prev) {
      if (prev.status === 'complete') {
        results.push({
          id: cell.id,
          arm: cell.arm.name,
          concurrency: cell.concurrency,
          rep: cell.rep,
          status: 'complete',
          alreadyComplete: true,
          ...(prev.counts ? { counts: prev.counts } : {}),
        });
        continue;
      }
      // keep the unfinished attempt beside the new one
      renameSync(dir, `${dir}.attempt-${stamp(new Date())}`);
    } else if (existsSync(dir)) {
      // a directory without cell.json: an attempt cut before it wrote anything
      renameSync(dir, `${dir}.attempt-${stamp(new Date())}`);
    }
    if (opts.signal?.aborted) {
      interrupted = true;
      break;
    }
    const earlier = results.find((r) => r.arm === cell.arm.name && r.failure?.phase === 'launch');
    const r = await runCell(
      { ...opts, secrets },
      spec,
      baseDir,
      cell,
      dir,
      apiKey,
      now,
      environment,
      runDir,
      earlier,
    );
    results.push(r);
    if (r.status === 'interrupted') {
      interrupted = true;
      break;
    }
    const ofArm = cells.filter((c) => c.arm.name === cell.arm.name);
    if (ofArm[ofArm.length - 1]?.id === cell.id) {
      const ran = results.filter((x) => x.arm === cell.arm.name && !x.alreadyComplete);
      if (ran.length > 0 && ran.every((x) => x.failure?.phase === 'launch')) {
        const reasons: LaunchFailure['reasons'] = [];
        for (const x of ran) {
          const f = x.failure as CellFailure;
          if (!reasons.some((q) => q.message === f.message))
            reasons.push({ message: f.message, ...(f.hint ? { hint: f.hint } : {}) });
        }
        launchFailure = { arm: cell.arm.name, cells: ran.map((x) => x.id), reasons };
        break;
      }
    }
  }
  // the end-of-run table is the analysis's (report/tables.ts runTable), printed by the CLI
  return {
    runDir,
    cells: results,
    interrupted,
    warnings: versionWarnings(environment.servers),
    ...(launchFailure ? { launchFailure } : {}),
  };
}

/**
 * Throws LAUNCH_FAILED (exit 3) when a `command` recipe of an arm cannot be started (its
 * executable is not on PATH, or not there): `servelab run` and `--dry-run` call it first.
 */
export function assertLaunchable(spec: Spec, env: NodeJS.ProcessEnv): void {
  const problems = launchProblems(
    spec.servers,
    spec.arms.map((a) => a.servers),
    env,
  );
  if (problems.length > 0) throw combinedLaunchError(problems);
}

/** A sim topology that does not parse is bad input (exit 2), found before the matrix starts. */
export function assertTopologies(spec: Spec, baseDir: string): void {
  for (const name of new Set(spec.arms.map((a) => a.servers))) {
    const s = spec.servers[name];
    if (s?.kind === 'sim') readTopology(s.topology, baseDir);
  }
}

/** Several recipes that cannot start: one error (exit 3) listing each once. */
function combinedLaunchError(problems: readonly ServelabError[]): ServelabError {
  const first = problems[0] as ServelabError;
  if (problems.length === 1) return first;
  const hints = [...new Set(problems.map((p) => p.hint).filter((h): h is string => Boolean(h)))];
  return new ServelabError(
    'LAUNCH_FAILED',
    `${problems.length} server recipes cannot be started:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
    hints.length ? { hint: hints.join('\n  hint: ') } : {},
  );
}

/**
 * The simulator counts the extra top-level fields it received (vLLM does not): recorded so a
 * program field that never reached the server (W2's KV-TTL arm) is visible.
 */
async function receivedFields(
  fetchText: FetchText,
  origin: string,
): Promise<Record<string, number> | undefined> {
  try {
    const res = await fetchText(`${origin}/metrics`, { timeoutMs: 5000 });
    if (!res.ok) return undefined;
    const parsed = parsePrometheusText(res.text);
    if (!parsed.ok) return undefined;
    const out: Record<string, number> = {};
    for (const x of parsed.page.samples) {
      if (x.name === 'servelab_sim_extra_fields_total' && x.labels.field)
        out[x.labels.field] = (out[x.labels.field] ?? 0) + x.value;
    }
    return out;
  } catch {
    return undefined;
  }
}

/**
 * Seconds each simulated server fell behind its modelled step times
 * (servelab:sim_realtime_lag_seconds_total), by label: the report's header states it.
 */
async function simRealtimeLag(
  fetchText: FetchText,
  servers: readonly { label: string; url: string }[],
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(
    servers.map(async (s) => {
      try {
        const res = await fetchText(`${s.url}/metrics`, { timeoutMs: 5000 });
        if (!res.ok) return;
        const parsed = parsePrometheusText(res.text);
        if (!parsed.ok) return;
        let lag: number | undefined;
        for (const x of parsed.page.samples)
          if (x.name === 'servelab:sim_realtime_lag_seconds_total') lag = (lag ?? 0) + x.value;
        if (lag !== undefined) out[s.label] = lag;
      } catch {
        // a server that does not answer: its lag is not recorded
      }
    }),
  );
  return out;
}

/** W2's first pitfall: arms that ran different server versions of the same model. */
export function versionWarnings(servers: readonly Record<string, unknown>[]): string[] {
  const byModel = new Map<string, Map<string, Set<string>>>();
  for (const s of servers) {
    const model = String(s.model ?? '?');
    const version = String(s.version ?? 'unknown');
    const versions = byModel.get(model) ?? new Map<string, Set<string>>();
    const arms = versions.get(version) ?? new Set<string>();
    arms.add(String(s.arm ?? '?'));
    versions.set(version, arms);
    byModel.set(model, versions);
  }
  const out: string[] = [];
  for (const [model, versions] of byModel) {
    if (versions.size > 1) {
      const parts = [...versions].map(([v, arms]) => `${v} (${[...arms].join(', ')})`);
      out.push(
        `${model} ran different server versions across arms: ${parts.join(' vs ')}; the arms are not comparable on the server alone`,
      );
    }
  }
  return out;
}

async function runCell(
  opts: RunExperimentOptions,
  spec: Spec,
  baseDir: string,
  cell: { id: string; arm: ArmSpec; concurrency: number; rep: number },
  dir: string,
  apiKey: string | undefined,
  now: () => number,
  environment: EnvironmentJson,
  runDir: string,
  /** an earlier cell of this arm that failed to launch (its reason is not repeated in full) */
  earlierLaunchFailure?: CellResult,
): Promise<CellResult> {
  const secrets = opts.secrets ?? new SecretRegistry();
  const logsDir = join(dir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const seed = spec.seed + cell.rep - 1;
  const serversSpec = spec.servers[cell.arm.servers];
  if (!serversSpec)
    throw new ServelabError('BAD_CONFIG', `arm ${cell.arm.name}: unknown servers ${cell.arm.servers}`);
  const notes: string[] = [];
  const note = (n: string) => {
    notes.push(n);
    opts.log(`[${cell.id}] ${n}`);
  };
  const meta: CellJson = {
    v: 1,
    arm: cell.arm.name,
    concurrency: cell.concurrency,
    rep: cell.rep,
    seed,
    status: 'running',
    startMs: now(),
    programFields: cell.arm.programFields,
    // what the report says about how the run was timed (tool latencies, user think times)
    timeScale: spec.agent.timeScale,
    notes,
  };
  writeCellJson(dir, secrets.scrubValue(meta));
  const base = { id: cell.id, arm: cell.arm.name, concurrency: cell.concurrency, rep: cell.rep };

  let servers: RunningServers | undefined;
  // records carry server-provided text (error messages may echo the Authorization header)
  const scrub = (line: string) => secrets.scrub(line);
  const steps = new JsonlWriter(join(dir, 'steps.jsonl'), scrub);
  const tasks = new JsonlWriter(join(dir, 'tasks.jsonl'), scrub);
  const tally = new CellTally();
  let sampler: { stop(): Promise<unknown> } | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let transport: (Transport & { close?: () => Promise<void> }) | undefined;
  let status: 'complete' | 'interrupted' | 'failed' = 'failed';
  let phase: CellFailure['phase'] = 'launch';
  try {
    opts.log(`[${cell.id}] starting ${serversSpec.kind} servers`);
    servers = await startServers({
      spec: serversSpec,
      name: cell.arm.servers,
      ...(opts.topologyPorts ? { topologyPorts: true } : {}),
      baseDir,
      logsDir,
      env: opts.env,
      signal: opts.signal,
      seed,
      simOverrides: opts.simOverrides,
      onNote: note,
    });
    phase = 'preflight';
    const versions = await serverVersions(servers.servers);
    const serverInfos = servers.servers.map((s) => ({ ...s, version: versions[s.label] ?? 'unknown' }));
    meta.servers = serverInfos;
    const distinct = new Set(Object.values(versions));
    if (distinct.size > 1) note(`servers of this arm report different versions: ${[...distinct].join(', ')}`);
    environment.servers = environment.servers
      .filter((s) => s.cell !== cell.id)
      .concat(serverInfos.map((s) => ({ cell: cell.id, arm: cell.arm.name, ...s })));
    writeEnvironment(runDir, secrets.scrubValue(environment));
    const pre = await preflight(servers.servers, {
      waitMs: spec.preflight.waitS * 1000,
      smoke: spec.preflight.smoke,
      orchestrator: spec.agent.orchestrator,
      ...(apiKey ? { apiKey } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    meta.preflight = pre.endpoints;
    // info-level findings (e.g. gpt-oss's content null) stay in cell.json; warnings are notes too
    for (const e of pre.endpoints)
      for (const p of e.problems) if (!p.startsWith('info:')) note(`preflight ${e.label}: ${p}`);

    phase = 'setup';
    const experts = spec.agent.experts ?? servers.experts;
    const pools = new PoolSet(servers.endpoints, spec.agent.pool, seed);
    const missing = [
      spec.agent.orchestrator,
      ...Object.values(experts),
      ...(spec.agent.user.mode === 'model' && spec.agent.user.model ? [spec.agent.user.model] : []),
    ].filter((m) => !pools.has(m));
    if (missing.length > 0) {
      throw new ServelabError(
        'BAD_CONFIG',
        `arm ${cell.arm.name}: no endpoints for ${missing.map((m) => `"${m}"`).join(', ')}`,
        {
          hint: `the servers serve: ${pools.models().join(', ')}`,
        },
      );
    }
    const orchestratorEps = servers.endpoints.get(spec.agent.orchestrator) ?? [];
    const orchUrl = (orchestratorEps[0]?.baseUrl ?? '').replace(/\/v1\/?$/, '');
    meta.orchestratorPort = orchUrl ? Number(new URL(orchUrl).port) : undefined;

    const workload = buildWorkload(spec, baseDir, seed, Object.keys(experts), opts.replay);
    meta.taskSet = { name: workload.name, count: workload.items.length, seed };
    writeCellJson(dir, secrets.scrubValue(meta));

    // KV sampler alongside the driver
    const ports = spec.metrics.ports ?? orchestratorEps.map((e) => Number(new URL(e.baseUrl).port));
    const targets = ports.map((port) => {
      const s = servers?.servers.find((x) => x.port === port);
      return { url: s?.url ?? `http://127.0.0.1:${port}`, port, label: s?.label ?? String(port) };
    });
    const kvPath = join(dir, 'kv_timeseries.csv');
    if (targets.length > 0) {
      sampler = startSampler({
        targets,
        intervalMs: spec.metrics.intervalMs,
        ...(spec.metrics.names ? { metrics: spec.metrics.names } : {}),
        out: kvPath,
        onNote: note,
      });
    }

    const releaseUrl =
      cell.arm.release === true ? `${orchUrl}/programs/release` : cell.arm.release || undefined;
    // the analysis raises releases the server answered 404 (it has no release endpoint)
    if (releaseUrl) meta.releaseUrl = releaseUrl;
    const replayOutput =
      cell.arm.replayOutput === 'auto'
        ? servers.simulated
          ? 'directive'
          : 'min_tokens'
        : cell.arm.replayOutput;
    const config: ProgramConfig = {
      orchestrator: spec.agent.orchestrator,
      experts,
      stream: spec.agent.stream,
      maxTokens: spec.agent.maxTokens,
      expertMaxTokens: spec.agent.expertMaxTokens,
      temperature: spec.agent.temperature,
      userMode: spec.agent.user.mode,
      ...(spec.agent.user.model ? { userModel: spec.agent.user.model } : {}),
      ...(spec.agent.historyTrimTokens ? { historyTrimTokens: spec.agent.historyTrimTokens } : {}),
      systemPromptTokens: spec.workload.generator?.systemPromptTokens ?? 600,
      timeScale: spec.agent.timeScale,
      programFields: cell.arm.programFields,
      ...(releaseUrl ? { releaseUrl } : {}),
      replayOutput,
      extraBody: cell.arm.extraBody,
      ...(apiKey ? { apiKey } : {}),
    };
    transport = (opts.makeTransport ?? servers.transport)(cell.concurrency);
    const ctx: ProgramContext = {
      transport,
      pools,
      config,
      limits: {
        maxSteps: spec.limits.maxSteps,
        maxTaskTimeMs: spec.limits.maxTaskTimeS * 1000,
        callTimeoutMs: spec.limits.callTimeoutS * 1000,
        stallTimeoutMs: spec.limits.stallTimeoutS * 1000,
        ...(spec.limits.firstByteTimeoutS
          ? { firstByteTimeoutMs: spec.limits.firstByteTimeoutS * 1000 }
          : {}),
        retry: spec.limits.retries,
      },
      cellTag: `${spec.name}/${cell.id}`,
      now,
      onStep: (r: StepRecord) => {
        steps.write(r);
        tally.addStep(r);
      },
      onProgress: () => {},
      onNote: note,
    };
    phase = 'drive';
    const t0 = now();
    const total = workload.items.length;
    const label = cell.id;
    progressTimer = setInterval(
      () => opts.log(progressLine(label, tally, total, (now() - t0) / 1000, lastKv(kvPath))),
      opts.progressIntervalMs ?? 2000,
    );
    progressTimer.unref();
    opts.log(`[${cell.id}] ${total} tasks at C=${cell.concurrency} (${workload.name}, seed ${seed})`);
    const drive = await driveCell({
      items: workload.items,
      concurrency: cell.concurrency,
      ...(spec.agent.domainSlots ? { domainSlots: spec.agent.domainSlots } : {}),
      ctx,
      ...(opts.signal ? { signal: opts.signal } : {}),
      graceMs: spec.limits.graceS * 1000,
      watchdogMs: spec.limits.watchdogS * 1000,
      onTask: (t: TaskRecord) => {
        tasks.write(t);
        tally.addTask(t);
      },
    });
    opts.log(progressLine(label, tally, total, (now() - t0) / 1000, lastKv(kvPath)));
    if (drive.stalled.length > 0) meta.stalledTasks = drive.stalled;
    if (servers.simulated && orchUrl)
      meta.orchestratorReceivedFields = await receivedFields(servers.fetchText, orchUrl);
    if (servers.simulated) meta.simRealtimeLagS = await simRealtimeLag(servers.fetchText, servers.servers);
    status = drive.interrupted ? 'interrupted' : 'complete';
    if (drive.interrupted) meta.undispatched = total - drive.dispatched;
  } catch (err) {
    status = opts.signal?.aborted ? 'interrupted' : 'failed';
    // only a server that could not be started is a launch failure (a bad spec is not)
    if (phase === 'launch' && !(err instanceof ServelabError && err.code === 'LAUNCH_FAILED'))
      phase = 'setup';
    if (status === 'failed') {
      const e = err as Error;
      meta.failure = {
        phase,
        message: e.message,
        ...(err instanceof ServelabError && err.hint ? { hint: err.hint } : {}),
      };
    }
    const same = phase === 'launch' && earlierLaunchFailure?.failure?.message === (err as Error).message;
    if (same) {
      notes.push(`cell failed: ${(err as Error).message}`);
      opts.log(`[${cell.id}] servers did not launch (the same reason as ${earlierLaunchFailure?.id})`);
    } else note(`cell ${status}: ${(err as Error).message}`);
    if (!(err instanceof ServelabError) && !opts.signal?.aborted) throw err;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    if (sampler) await sampler.stop().catch(() => undefined);
    steps.close();
    tasks.close();
    await transport?.close?.().catch(() => undefined);
    if (servers) await servers.stop().catch((e: Error) => note(`teardown: ${e.message}`));
    // the servers' own logs (vLLM prints its non-default args, --api-key included)
    scrubFiles(logsDir, secrets);
    meta.status = status;
    meta.endMs = now();
    // nothing was measured when the servers never came up: no counts (no row of zeros)
    if (!(status === 'failed' && phase === 'launch')) meta.counts = tally.summary(cell.id, status);
    writeCellJson(dir, secrets.scrubValue(meta));
  }
  return {
    ...base,
    status,
    ...(meta.counts ? { counts: meta.counts } : {}),
    ...(meta.failure ? { failure: meta.failure } : {}),
  };
}

/**
 * The one cell runner: launch -> preflight -> setup -> drive (the KV sampler alongside) ->
 * teardown, whatever the launcher (HTTP, in-process virtual, command, external) and whatever
 * the workload: agent programs (agent/driver.ts) or a request stream (request-driver.ts). The cell
 * record (CellRun) says the phase reached and, for a failed cell, the phase that failed;
 * cell.json is written at the start and again at the end, records are appended as they come.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentClock } from '../agent/clock.js';
import { realClock } from '../agent/clock.js';
import { driveCell } from '../agent/driver.js';
import { JsonlWriter } from '../agent/jsonl-writer.js';
import { PoolSet } from '../agent/pool.js';
import type { StepRecord, TaskRecord } from '../agent/records.js';
import type { ProgramConfig, ProgramContext } from '../agent/runtime.js';
import { type SecretRegistry, scrubFiles } from '../config/secrets.js';
import { agentOf, type Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { CellTransport, LaunchedServers, ServerInfo } from '../launch/launcher.js';
import { runSlurmCell, type SlurmSweepShared } from '../launch/slurm-launcher.js';
import type { StageResult } from '../loadgen/run-stage.js';
import type { FetchText } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { type SamplerClock, startSampler } from '../metrics/sampler.js';
import {
  type CellCounts,
  type CellFailure,
  type CellJson,
  type EnvironmentJson,
  writeCellJson,
  writeEnvironment,
} from '../rundir/run-dir.js';
import { createEngine } from '../sim/engine.js';
import type { EngineFactory, StartSimOptions } from '../sim/server/index.js';
import type { KeptServers } from './kept-servers.js';
import type { Cell } from './plan.js';
import { preflight, serverVersions } from './preflight.js';
import { lastKv, type MatrixProgress, progressLine } from './progress.js';
import { driveRequests, type RequestSeries } from './request-driver.js';
import { startServers } from './servers.js';
import { CellTally } from './summary.js';
import { buildWorkload } from './workload.js';

/** The phases of a cell, in order (the KV sampler runs alongside `drive`). */
export const CELL_PHASES = ['launch', 'preflight', 'setup', 'drive', 'teardown'] as const;
export type CellPhase = (typeof CELL_PHASES)[number];

export interface CellResult {
  id: string;
  arm: string;
  concurrency: number;
  rep: number;
  status: 'complete' | 'interrupted' | 'failed';
  /** the last phase the cell entered (teardown for every cell that launched anything) */
  phaseReached?: CellPhase;
  /** the driver's counts; absent when nothing was measured (the servers did not launch) */
  counts?: CellCounts;
  /** complete before this invocation (resume): not run again */
  alreadyComplete?: boolean;
  failure?: CellFailure;
  /** wall seconds from launch to the end of teardown */
  wallS?: number;
  /** a request-stream cell's stage (its summary and records), for a RequestSeries' caller */
  stage?: StageResult;
}

/** What every cell of a run shares. */
export interface CellRunContext {
  spec: Spec;
  baseDir: string;
  runDir: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log: (line: string) => void;
  secrets: SecretRegistry;
  apiKey?: string;
  environment: EnvironmentJson;
  replay?: string;
  progressIntervalMs?: number;
  topologyPorts?: boolean;
  simOverrides?: Partial<StartSimOptions>;
  /** test hook: replaces the HTTP transport of HTTP launchers */
  makeTransport?: (concurrency: number) => CellTransport;
  /** real-time clock of cell.json times and HTTP cells' records (test hook) */
  now: () => number;
  /** request-stream cells writing into one bench run directory (servelab bench) */
  requestSeries?: RequestSeries;
  /** the matrix around this cell, for the progress line's "cell k of N" and ETA */
  matrix: (cell: Cell) => Omit<MatrixProgress, 'tasksDone' | 'tasksTotal' | 'cellElapsedS'>;
  /** launcher slurm with several jobs in the queue at once: the sweep's poller and busy nodes */
  slurm?: SlurmSweepShared;
  /** one set of servers for every cell of a series (a load scenario), stopped by the series */
  keptServers?: KeptServers;
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

/** The sampler on the cell's clock (virtual samples are events on the virtual clock). */
function samplerClock(clock: AgentClock): SamplerClock {
  return {
    nowUnixMs: () => clock.now(),
    sleepUntil: (t, signal) => clock.sleep(t - clock.now(), signal),
  };
}

/**
 * The sim engine options of a cell: a `kind: vllm` config's settings that a sim topology has
 * no key for (kv_cache_dtype, pipeline_parallel_size, enable_prefix_caching, block_size) reach
 * the virtual engines through the engine factory.
 */
function simOverridesOf(
  base: Partial<StartSimOptions> | undefined,
  cell: Cell,
): Partial<StartSimOptions> | undefined {
  const extras = cell.server.engineExtras;
  if (!extras || Object.keys(extras).length === 0) return base;
  const inner: EngineFactory = base?.createEngine ?? ((o, c) => createEngine(o, c));
  return { ...base, createEngine: (o, c) => inner({ ...o, ...extras }, c) };
}

/**
 * The launch phase's servers: started for this cell, or a series' kept servers (started by its
 * first cell or before it, reused by the later ones: experiment/kept-servers.ts).
 */
export function launchCellServers(
  cx: CellRunContext,
  cell: Cell,
  logsDir: string,
  note: (n: string) => void,
): Promise<LaunchedServers> {
  const start = () =>
    startServers({
      spec: cell.server.spec,
      mode: cell.server.launcher === 'sim-virtual' ? 'virtual' : 'real',
      name: cell.server.name,
      ...(cx.topologyPorts ? { topologyPorts: true } : {}),
      baseDir: cx.baseDir,
      logsDir: cx.keptServers?.logsDir ?? logsDir,
      env: cx.env,
      ...(cx.signal ? { signal: cx.signal } : {}),
      seed: cell.seed,
      ...(simOverridesOf(cx.simOverrides, cell)
        ? { simOverrides: simOverridesOf(cx.simOverrides, cell) }
        : {}),
      ...(cx.makeTransport ? { httpTransport: cx.makeTransport } : {}),
      onNote: note,
    });
  return cx.keptServers ? cx.keptServers.acquire(cell.id, start) : start();
}

export async function runCell(
  cx: CellRunContext,
  cell: Cell,
  dir: string,
  /** an earlier cell of this arm that failed to launch (its reason is not repeated in full) */
  earlierLaunchFailure?: CellResult,
): Promise<CellResult> {
  // launcher slurm: the whole cell (servers and benchmark) runs as a SLURM job
  if (cell.server.launcher === 'slurm') return runSlurmCell(cx, cell, dir);
  const { spec, baseDir, secrets } = cx;
  const wall0 = performance.now();
  const logsDir = join(dir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const seed = cell.seed;
  const serversSpec = cell.server.spec;
  const notes: string[] = [];
  const note = (n: string) => {
    notes.push(n);
    cx.log(`[${cell.id}] ${n}`);
  };
  const meta: CellJson = {
    v: 1,
    arm: cell.arm.name,
    concurrency: cell.concurrency,
    rep: cell.rep,
    seed,
    status: 'running',
    startMs: cx.now(),
    programFields: cell.arm.programFields,
    // what the report says about how the run was timed (tool latencies, user think times)
    timeScale: spec.agent?.timeScale ?? 1,
    notes,
  };
  if (cell.server.launcher === 'sim-virtual') meta.mode = 'virtual';
  if (cell.load.kind === 'rate') meta.load = cell.load;
  if (cell.server.vllm)
    meta.serverConfig = {
      ...(cell.server.label ? { label: cell.server.label } : {}),
      params: cell.server.params,
      vllm: cell.server.vllm,
      ...(cell.server.notModelled?.length ? { notModelled: cell.server.notModelled } : {}),
    };
  writeCellJson(dir, secrets.scrubValue(meta));
  const base = { id: cell.id, arm: cell.arm.name, concurrency: cell.concurrency, rep: cell.rep };

  let servers: LaunchedServers | undefined;
  // records carry server-provided text (error messages may echo the Authorization header)
  const scrub = (line: string) => secrets.scrub(line);
  // agent records (a request-stream cell writes requests.jsonl: request-driver.ts)
  const agentWork = !spec.workload.requests;
  const steps = agentWork ? new JsonlWriter(join(dir, 'steps.jsonl'), scrub) : undefined;
  const tasks = agentWork ? new JsonlWriter(join(dir, 'tasks.jsonl'), scrub) : undefined;
  const tally = new CellTally();
  let sampler: { stop(): Promise<unknown> } | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let transport: CellTransport | undefined;
  let status: CellResult['status'] = 'failed';
  let phase: CellPhase = 'launch';
  let failedPhase: CellFailure['phase'] | undefined;
  let stage: StageResult | undefined;
  try {
    if (!cx.keptServers)
      cx.log(
        `[${cell.id}] starting ${serversSpec.kind} servers${cell.server.launcher === 'sim-virtual' ? ' (in-process, virtual time)' : ''}`,
      );
    servers = await launchCellServers(cx, cell, logsDir, note);
    if (cx.keptServers) meta.serversKept = cx.keptServers.record(cell.id);
    const running = servers;
    // HTTP cells keep the run's real clock (cx.now, a test hook); virtual ones the launcher's
    const clock = running.virtual ? running.clock : realClock(cx.now);
    phase = 'preflight';
    const versions = await serverVersions(running.servers, running.fetchText);
    const serverInfos = running.servers.map((s) => ({ ...s, version: versions[s.label] ?? 'unknown' }));
    meta.servers = serverInfos;
    // where the cell's servers answer (a simulator's free port is known only now)
    if (!running.virtual)
      cx.log(
        `[${cell.id}] servers: ${serverInfos.map((s) => `${s.model} at ${s.url} (${s.version})`).join(', ')}`,
      );
    if (running.virtual) meta.simulation = running.virtual.describe;
    const distinct = new Set(Object.values(versions));
    if (distinct.size > 1) note(`servers of this arm report different versions: ${[...distinct].join(', ')}`);
    cx.environment.servers = cx.environment.servers
      .filter((s) => s.cell !== cell.id)
      .concat(serverInfos.map((s) => ({ cell: cell.id, arm: cell.arm.name, ...s })));
    writeEnvironment(cx.runDir, secrets.scrubValue(cx.environment));
    if (!spec.preflight.enabled) {
      // servelab bench: the requests themselves say whether the server is there
      meta.preflight = running.servers.map((s: ServerInfo) => ({
        label: s.label,
        version: versions[s.label] ?? 'unknown',
        quirks: [],
        problems: ['info: preflight off (preflight.enabled: false)'],
      }));
    } else if (running.virtual) {
      // in-process servers: nothing to probe over a network; the model names are checked in setup
      meta.preflight = running.servers.map((s: ServerInfo) => ({
        label: s.label,
        version: versions[s.label] ?? 'unknown',
        quirks: [],
        problems: ['info: in-process simulated server (virtual time): not probed over HTTP'],
      }));
    } else {
      const pre = await preflight(running.servers, {
        waitMs: spec.preflight.waitS * 1000,
        smoke: spec.preflight.smoke,
        orchestrator:
          spec.agent?.orchestrator ?? spec.workload.requests?.model ?? running.servers[0]?.model ?? '',
        ...(cx.apiKey ? { apiKey: cx.apiKey } : {}),
        ...(cx.signal ? { signal: cx.signal } : {}),
      });
      meta.preflight = pre.endpoints;
      // info-level findings (e.g. gpt-oss's content null) stay in cell.json; warnings are notes too
      for (const e of pre.endpoints)
        for (const p of e.problems) if (!p.startsWith('info:')) note(`preflight ${e.label}: ${p}`);
    }

    phase = 'setup';
    const requests = spec.workload.requests;
    if (requests) {
      phase = 'drive';
      const rd = await driveRequests({
        cell,
        dir,
        requests,
        baseDir,
        running,
        clock,
        secrets,
        ...(cx.signal ? { signal: cx.signal } : {}),
        metricsIntervalMs: spec.metrics.intervalMs,
        ...(spec.metrics.names ? { metricNames: spec.metrics.names } : {}),
        ...(cx.apiKey ? { apiKey: cx.apiKey } : {}),
        serverMetrics: spec.metrics.server,
        graceMs: spec.limits.graceS * 1000,
        ...(cx.requestSeries ? { series: cx.requestSeries } : {}),
        note,
        log: cx.log,
        createdAt: new Date(),
      });
      stage = rd.stage;
      meta.requests = rd.counts;
      meta.taskSet = { name: rd.workload.description, count: rd.workload.count, seed: rd.workload.seed };
      status = rd.interrupted || cx.signal?.aborted ? 'interrupted' : 'complete';
    } else {
      const agent = agentOf(spec);
      const experts = agent.experts ?? running.experts;
      const pools = new PoolSet(running.endpoints, agent.pool, seed);
      const missing = [
        agent.orchestrator,
        ...Object.values(experts),
        ...(agent.user.mode === 'model' && agent.user.model ? [agent.user.model] : []),
      ].filter((m) => !pools.has(m));
      if (missing.length > 0) {
        throw new ServelabError(
          'BAD_CONFIG',
          `arm ${cell.arm.name}: no endpoints for ${missing.map((m) => `"${m}"`).join(', ')}`,
          { hint: `the servers serve: ${pools.models().join(', ')}` },
        );
      }
      const orchestratorEps = running.endpoints.get(agent.orchestrator) ?? [];
      const orchUrl = (orchestratorEps[0]?.baseUrl ?? '').replace(/\/v1\/?$/, '');
      meta.orchestratorPort = orchUrl ? Number(new URL(orchUrl).port) : undefined;

      const workload = buildWorkload(spec, baseDir, seed, Object.keys(experts), cx.replay);
      meta.taskSet = { name: workload.name, count: workload.items.length, seed };
      writeCellJson(dir, secrets.scrubValue(meta));

      // KV sampler alongside the driver, on the cell's clock
      const ports = spec.metrics.ports ?? orchestratorEps.map((e) => Number(new URL(e.baseUrl).port));
      // behind a router the engines are sampled, not the proxy (its /metrics is JSON)
      const targets =
        !spec.metrics.ports && running.kvTargets
          ? running.kvTargets
          : ports.map((port) => {
              const s = running.servers.find((x) => x.port === port);
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
          ...(running.virtual ? { clock: samplerClock(clock), fetchText: running.fetchText } : {}),
        });
      }

      let releaseUrl =
        cell.arm.release === true ? `${orchUrl}/programs/release` : cell.arm.release || undefined;
      // an in-process router releases in place; other virtual servers have nothing to release
      const inProcessRelease = cell.arm.release && running.release ? running.release : undefined;
      if (releaseUrl && running.virtual) {
        if (!inProcessRelease)
          note('release: not sent in virtual time (no HTTP; the simulated engine has no release endpoint)');
        releaseUrl = undefined;
      }
      // the analysis raises releases the server answered 404 (it has no release endpoint)
      if (releaseUrl) meta.releaseUrl = releaseUrl;
      const replayOutput =
        cell.arm.replayOutput === 'auto'
          ? running.simulated
            ? 'directive'
            : 'min_tokens'
          : cell.arm.replayOutput;
      const config: ProgramConfig = {
        orchestrator: agent.orchestrator,
        experts,
        stream: agent.stream,
        maxTokens: agent.maxTokens,
        expertMaxTokens: agent.expertMaxTokens,
        temperature: agent.temperature,
        userMode: agent.user.mode,
        ...(agent.user.model ? { userModel: agent.user.model } : {}),
        ...(agent.historyTrimTokens ? { historyTrimTokens: agent.historyTrimTokens } : {}),
        systemPromptTokens: spec.workload.generator?.systemPromptTokens ?? 600,
        timeScale: agent.timeScale,
        programFields: cell.arm.programFields,
        ...(releaseUrl ? { releaseUrl } : {}),
        replayOutput,
        extraBody: cell.arm.extraBody,
        ...(cx.apiKey ? { apiKey: cx.apiKey } : {}),
      };
      transport = running.transport(cell.concurrency);
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
        now: clock.now,
        clock,
        onStep: (r: StepRecord) => {
          steps?.write(r);
          tally.addStep(r);
        },
        onProgress: () => {},
        onNote: note,
        ...(inProcessRelease ? { release: inProcessRelease } : {}),
      };
      phase = 'drive';
      const t0 = clock.now();
      const driveWall0 = performance.now();
      const total = workload.items.length;
      const line = () =>
        progressLine(cell.id, tally, total, (clock.now() - t0) / 1000, lastKv(kvPath), {
          ...cx.matrix(cell),
          tasksDone: tally.tasks.length,
          tasksTotal: total,
          cellElapsedS: (performance.now() - driveWall0) / 1000,
        });
      // the progress line is for the person waiting: wall time, also in virtual time
      progressTimer = setInterval(() => cx.log(line()), cx.progressIntervalMs ?? 2000);
      progressTimer.unref();
      cx.log(`[${cell.id}] ${total} tasks at C=${cell.concurrency} (${workload.name}, seed ${seed})`);
      const work = driveCell({
        items: workload.items,
        concurrency: cell.concurrency,
        ...(agent.domainSlots ? { domainSlots: agent.domainSlots } : {}),
        ctx,
        ...(cx.signal ? { signal: cx.signal } : {}),
        graceMs: spec.limits.graceS * 1000,
        watchdogMs: spec.limits.watchdogS * 1000,
        onTask: (t: TaskRecord) => {
          tasks?.write(t);
          tally.addTask(t);
        },
      });
      const drive = running.virtual ? await running.virtual.drive(work) : await work;
      cx.log(line());
      if (drive.stalled.length > 0) meta.stalledTasks = drive.stalled;
      if (running.simulated && orchUrl)
        meta.orchestratorReceivedFields = await receivedFields(running.fetchText, orchUrl);
      if (running.simulated && !running.virtual)
        meta.simRealtimeLagS = await simRealtimeLag(running.fetchText, running.servers);
      status = drive.interrupted ? 'interrupted' : 'complete';
      if (drive.interrupted) meta.undispatched = total - drive.dispatched;
    }
  } catch (err) {
    status = cx.signal?.aborted ? 'interrupted' : 'failed';
    // only a server that could not be started is a launch failure (a bad spec is not)
    failedPhase =
      phase === 'launch' && !(err instanceof ServelabError && err.code === 'LAUNCH_FAILED')
        ? 'setup'
        : (phase as CellFailure['phase']);
    if (status === 'failed') {
      const e = err as Error;
      meta.failure = {
        phase: failedPhase,
        message: e.message,
        ...(err instanceof ServelabError && err.hint ? { hint: err.hint } : {}),
      };
    }
    const same =
      failedPhase === 'launch' && earlierLaunchFailure?.failure?.message === (err as Error).message;
    if (same) {
      notes.push(`cell failed: ${(err as Error).message}`);
      cx.log(`[${cell.id}] servers did not launch (the same reason as ${earlierLaunchFailure?.id})`);
    } else note(`cell ${status}: ${(err as Error).message}`);
    if (!(err instanceof ServelabError) && !cx.signal?.aborted) throw err;
  } finally {
    if (servers) phase = 'teardown';
    if (progressTimer) clearInterval(progressTimer);
    if (sampler) await sampler.stop().catch(() => undefined);
    steps?.close();
    tasks?.close();
    await transport?.close?.().catch(() => undefined);
    // a series' kept servers outlive the cell (the series stops them)
    if (servers && !cx.keptServers) await servers.stop().catch((e: Error) => note(`teardown: ${e.message}`));
    // the servers' own logs (vLLM prints its non-default args, --api-key included)
    scrubFiles(logsDir, secrets);
    meta.status = status;
    meta.phaseReached = phase;
    meta.endMs = cx.now();
    // nothing was measured when the servers never came up: no counts (no row of zeros)
    // (a request cell's counts are its requests: meta.requests)
    if (!(status === 'failed' && failedPhase === 'launch') && !spec.workload.requests)
      meta.counts = tally.summary(cell.id, status);
    writeCellJson(dir, secrets.scrubValue(meta));
  }
  return {
    ...base,
    status,
    phaseReached: phase,
    wallS: (performance.now() - wall0) / 1000,
    ...(meta.counts ? { counts: meta.counts } : {}),
    ...(meta.failure ? { failure: meta.failure } : {}),
    ...(stage ? { stage } : {}),
  };
}

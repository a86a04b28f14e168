/**
 * The run lifecycle of an agent experiment: for each arm x concurrency x repetition, fresh
 * servers -> preflight -> KV sampler + driver -> teardown -> cell.json + summary.json. Ctrl-C
 * marks the current cell interrupted, keeps every record and stops the matrix; `resume`
 * continues at the first cell that is not complete.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { driveCell } from '../agent/driver.js';
import { JsonlWriter } from '../agent/jsonl-writer.js';
import { PoolSet } from '../agent/pool.js';
import type { StepRecord, TaskRecord } from '../agent/records.js';
import type { ProgramConfig, ProgramContext } from '../agent/runtime.js';
import type { LoadedSpec } from '../config/load.js';
import { redact, resolveSecret } from '../config/secrets.js';
import type { ArmSpec, Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { Transport } from '../loadgen/transport.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { startSampler } from '../metrics/sampler.js';
import type { StartSimOptions } from '../sim/server/index.js';
import { SERVELAB_VERSION } from '../version.js';
import { preflight, serverVersions } from './preflight.js';
import { lastKv, progressLine } from './progress.js';
import { type RunningServers, startServers } from './servers.js';
import { type CellCounts, CellTally, formatTable } from './summary.js';
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
  makeTransport: (concurrency: number) => Transport & { close?: () => Promise<void> };
  progressIntervalMs?: number;
  simOverrides?: Partial<StartSimOptions>;
  now?: () => number;
}

export interface CellResult {
  id: string;
  arm: string;
  concurrency: number;
  rep: number;
  status: 'complete' | 'interrupted' | 'failed' | 'skipped';
  counts?: CellCounts;
}

export interface RunExperimentResult {
  runDir: string;
  cells: CellResult[];
  interrupted: boolean;
  table: string;
  /** things that make arms not comparable (e.g. different server versions) */
  warnings: string[];
}

const monotonicNow = () => performance.timeOrigin + performance.now();

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

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
  const cells = cellIds(spec);
  let runDir: string;
  if (opts.resumeDir) {
    runDir = resolve(opts.cwd, opts.resumeDir);
    if (!existsSync(join(runDir, 'run.json')))
      throw new ServelabError('NOT_FOUND', `${runDir} is not a run directory (no run.json)`);
  } else {
    runDir = join(resolve(opts.cwd, spec.outDir), `${spec.name}-${stamp(new Date())}`);
    mkdirSync(runDir, { recursive: true });
    writeJson(join(runDir, 'run.json'), {
      v: 1,
      kind: 'agent',
      name: spec.name,
      createdAt: new Date().toISOString(),
      servelabVersion: SERVELAB_VERSION,
      cells: cells.map((c) => c.id),
      ...(opts.replay ? { replay: opts.replay } : {}),
    });
    writeFileSync(
      join(runDir, 'spec.yaml'),
      `# resolved from ${opts.loaded.file}; relative paths below resolve against ${baseDir}\n${toYaml(redact(spec))}`,
    );
  }
  const envPath = join(runDir, 'environment.json');
  const environment = existsSync(envPath)
    ? (JSON.parse(readFileSync(envPath, 'utf8')) as { servers: Record<string, unknown>[] })
    : {
        v: 1,
        servelabVersion: SERVELAB_VERSION,
        node: process.version,
        platform: process.platform,
        host: hostname(),
        servers: [],
      };
  writeJson(envPath, environment);

  const results: CellResult[] = [];
  let interrupted = false;
  for (const cell of cells) {
    const dir = join(runDir, cell.id);
    const cellJson = join(dir, 'cell.json');
    if (existsSync(cellJson)) {
      const prev = JSON.parse(readFileSync(cellJson, 'utf8')) as { status?: string };
      if (prev.status === 'complete') {
        const summaryPath = join(dir, 'summary.json');
        const counts = existsSync(summaryPath)
          ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as CellCounts)
          : undefined;
        results.push({
          id: cell.id,
          arm: cell.arm.name,
          concurrency: cell.concurrency,
          rep: cell.rep,
          status: 'complete',
          ...(counts ? { counts } : {}),
        });
        continue;
      }
      // keep the unfinished attempt beside the new one
      renameSync(dir, `${dir}.attempt-${stamp(new Date())}`);
    }
    if (opts.signal?.aborted) {
      interrupted = true;
      break;
    }
    const r = await runCell(opts, spec, baseDir, cell, dir, apiKey, now, environment, envPath);
    results.push(r);
    if (r.status === 'interrupted') {
      interrupted = true;
      break;
    }
  }
  const rows: { arm: string; concurrency: number; cells: CellCounts[] }[] = [];
  for (const arm of spec.arms)
    for (const c of spec.concurrency) {
      const cs = results
        .filter((r) => r.arm === arm.name && r.concurrency === c && r.counts)
        .map((r) => r.counts as CellCounts);
      if (cs.length > 0) rows.push({ arm: arm.name, concurrency: c, cells: cs });
    }
  return {
    runDir,
    cells: results,
    interrupted,
    table: formatTable(rows),
    warnings: versionWarnings(environment.servers),
  };
}

/**
 * The simulator counts the extra top-level fields it received (vLLM does not): recorded so a
 * program field that never reached the server (W2's KV-TTL arm) is visible.
 */
async function receivedFields(origin: string): Promise<Record<string, number> | undefined> {
  try {
    const res = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(5000) });
    const parsed = parsePrometheusText(await res.text());
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
  environment: { servers: Record<string, unknown>[] },
  envPath: string,
): Promise<CellResult> {
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
  const meta: Record<string, unknown> = {
    v: 1,
    arm: cell.arm.name,
    concurrency: cell.concurrency,
    rep: cell.rep,
    seed,
    status: 'running',
    startMs: now(),
    programFields: cell.arm.programFields,
    notes,
  };
  const cellJson = join(dir, 'cell.json');
  writeJson(cellJson, meta);
  const base = { id: cell.id, arm: cell.arm.name, concurrency: cell.concurrency, rep: cell.rep };

  let servers: RunningServers | undefined;
  const steps = new JsonlWriter(join(dir, 'steps.jsonl'));
  const tasks = new JsonlWriter(join(dir, 'tasks.jsonl'));
  const tally = new CellTally();
  let sampler: { stop(): Promise<unknown> } | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let transport: (Transport & { close?: () => Promise<void> }) | undefined;
  let status: 'complete' | 'interrupted' | 'failed' = 'failed';
  try {
    opts.log(`[${cell.id}] starting ${serversSpec.kind} servers`);
    servers = await startServers({
      spec: serversSpec,
      baseDir,
      logsDir,
      env: opts.env,
      signal: opts.signal,
      seed,
      simOverrides: opts.simOverrides,
      onNote: note,
    });
    const versions = await serverVersions(servers.servers);
    const serverInfos = servers.servers.map((s) => ({ ...s, version: versions[s.label] ?? 'unknown' }));
    meta.servers = serverInfos;
    const distinct = new Set(Object.values(versions));
    if (distinct.size > 1) note(`servers of this arm report different versions: ${[...distinct].join(', ')}`);
    environment.servers = environment.servers
      .filter((s) => s.cell !== cell.id)
      .concat(serverInfos.map((s) => ({ cell: cell.id, arm: cell.arm.name, ...s })));
    writeJson(envPath, environment);
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
    writeJson(cellJson, meta);

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
    const replayOutput =
      cell.arm.replayOutput === 'auto'
        ? serversSpec.kind === 'sim'
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
    transport = opts.makeTransport(cell.concurrency);
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
    if (serversSpec.kind === 'sim' && orchUrl)
      meta.orchestratorReceivedFields = await receivedFields(orchUrl);
    status = drive.interrupted ? 'interrupted' : 'complete';
    if (drive.interrupted) meta.undispatched = total - drive.dispatched;
  } catch (err) {
    status = opts.signal?.aborted ? 'interrupted' : 'failed';
    note(`cell ${status}: ${(err as Error).message}`);
    if (!(err instanceof ServelabError) && !opts.signal?.aborted) throw err;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    if (sampler) await sampler.stop().catch(() => undefined);
    steps.close();
    tasks.close();
    await transport?.close?.().catch(() => undefined);
    if (servers) await servers.stop().catch((e: Error) => note(`teardown: ${e.message}`));
    meta.status = status;
    meta.endMs = now();
    writeJson(cellJson, meta);
  }
  const counts = tally.summary(cell.id, status);
  writeJson(join(dir, 'summary.json'), counts);
  return { ...base, status, counts };
}

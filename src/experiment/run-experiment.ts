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
import { monotonicNow } from '../agent/clock.js';
import type { LoadedSpec } from '../config/load.js';
import { redact, resolveSecret, SecretRegistry, secretsFromSpec } from '../config/secrets.js';
import type { ArmSpec, ServersSpec, Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { TimeMode } from '../launch/registry.js';
import { type SlurmSweepShared, slurmPortStride } from '../launch/slurm-launcher.js';
import { SlurmPoller } from '../launch/slurm-poller.js';
import { slurmProgressLine } from '../launch/slurm-progress.js';
import type { Transport } from '../loadgen/transport.js';
import {
  type CellFailure,
  type EnvironmentJson,
  isRunDir,
  readCellForResume,
  readEnvironment,
  readRunJson,
  writeEnvironment,
  writeRunJson,
  writeSpecYaml,
} from '../rundir/run-dir.js';
import type { StartSimOptions } from '../sim/server/index.js';
import { SERVELAB_VERSION } from '../version.js';
import { type CellResult, runCell } from './cell.js';
import { type Plan, planExperiment } from './plan.js';
import { launchProblems, readTopology } from './servers.js';

export type { CellResult } from './cell.js';

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
  /** real time (default) or virtual time: every server a simulated engine in-process (`servelab simulate`) */
  mode?: TimeMode;
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

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** The cells of a spec in run order (ids, arms, concurrencies, repetitions): plan.ts's plan. */
export function cellIds(spec: Spec): { id: string; arm: ArmSpec; concurrency: number; rep: number }[] {
  return planExperiment(spec).cells.map((c) => ({
    id: c.id,
    arm: c.arm,
    concurrency: c.concurrency,
    rep: c.rep,
  }));
}

export async function runExperiment(opts: RunExperimentOptions): Promise<RunExperimentResult> {
  const { spec, baseDir } = opts.loaded;
  const now = opts.now ?? monotonicNow;
  const keyRef = spec.agent?.apiKey ?? spec.workload.requests?.apiKey;
  const apiKey = keyRef ? resolveSecret(keyRef, opts.env, baseDir) : undefined;
  // the key and every secret in the recipes (argv --api-key values, env tokens) never reach a file
  const secrets = opts.secrets ?? new SecretRegistry();
  secrets.add(apiKey);
  secrets.addAll(secretsFromSpec(spec));
  const mode = opts.mode ?? 'real';
  // in virtual time, an arm with command/external servers and no simulateAs: exit 2 naming it
  const plan = planExperiment(spec, mode, { env: opts.env });
  const cells = plan.cells;
  // a recipe whose executable is missing fails every cell: say so before anything is written
  if (mode === 'real') assertLaunchable(spec, opts.env, plan);
  assertTopologies(spec, baseDir, mode);
  let runDir: string;
  if (opts.resumeDir) {
    runDir = resolve(opts.cwd, opts.resumeDir);
    if (!isRunDir(runDir))
      throw new ServelabError('NOT_FOUND', `${runDir} is not a run directory (no run.json)`, {
        hint: 'pass the directory `servelab run` printed as "run directory: ..."',
      });
    const recorded = readRunJson(runDir);
    const recordedMode = recorded?.mode === 'virtual' ? 'virtual' : 'real';
    if (recordedMode !== mode)
      throw new ServelabError(
        'BAD_FLAG',
        `${runDir} was run in ${recordedMode} time; this resume is in ${mode} time`,
        {
          hint:
            recordedMode === 'virtual'
              ? 'resume it with `servelab simulate`'
              : 'resume it with `servelab run` (without --virtual)',
        },
      );
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
        mode,
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
      mode,
    } as EnvironmentJson),
  );

  const results: CellResult[] = [];
  const cx = {
    spec,
    baseDir,
    runDir,
    env: opts.env,
    ...(opts.signal ? { signal: opts.signal } : {}),
    log: opts.log,
    secrets,
    ...(apiKey ? { apiKey } : {}),
    environment,
    ...(opts.replay ? { replay: opts.replay } : {}),
    ...(opts.progressIntervalMs ? { progressIntervalMs: opts.progressIntervalMs } : {}),
    ...(opts.topologyPorts ? { topologyPorts: true } : {}),
    ...(opts.simOverrides ? { simOverrides: opts.simOverrides } : {}),
    ...(opts.makeTransport ? { makeTransport: opts.makeTransport } : {}),
    now,
    matrix: (c: { index: number }) => ({
      cellIndex: c.index,
      cellCount: cells.length,
      finishedCellsS: results.flatMap((r) =>
        r.wallS !== undefined && r.status === 'complete' ? [r.wallS] : [],
      ),
    }),
  };
  let interrupted = false;
  let launchFailure: LaunchFailure | undefined;
  // launcher slurm: up to maxJobs cells' jobs in the queue at once, watched by one poller (one
  // squeue per poll); every other cell runs alone (they share this machine's GPUs)
  const slurmSpec = spec.launcher?.kind === 'slurm' ? spec.launcher : undefined;
  const maxJobs = slurmSpec?.maxJobs ?? 1;
  // aborted by Ctrl-C, or by a cell's unexpected error: every job still queued is cancelled
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop.abort();
  const inFlight = new Map<string, { startMs: number }>();
  let toSubmit = cells.length;
  let firstError: unknown;
  let stopped = false;
  const slurmShared: SlurmSweepShared | undefined = slurmSpec
    ? {
        poller: new SlurmPoller({ pollMs: slurmSpec.pollS * 1000, signal: stop.signal, log: opts.log }),
        busyNodes: [],
        onChange: () => opts.log(slurmLine()),
      }
    : undefined;
  const slurmLine = () => {
    const states = slurmShared?.poller.states() ?? [];
    const running = states.filter((st) => st === 'RUNNING' || st === 'COMPLETING').length;
    const now = performance.now();
    return slurmProgressLine({
      total: cells.length,
      earlier: results.filter((r) => r.alreadyComplete).length,
      complete: results.filter((r) => !r.alreadyComplete && r.status === 'complete').length,
      failed: results.filter((r) => r.status !== 'complete').length,
      running,
      pending: Math.max(0, inFlight.size - running),
      toSubmit,
      maxJobs,
      finishedCellsS: results.flatMap((r) =>
        r.wallS !== undefined && r.status === 'complete' ? [r.wallS] : [],
      ),
      inFlightS: [...inFlight.values()].map((f) => (now - f.startMs) / 1000),
    });
  };
  /** A cell's result, as it ends: interrupted stops the matrix; an arm none of whose cells launched, too. */
  const finish = (cell: (typeof cells)[number], r: CellResult) => {
    results.push(r);
    if (r.status === 'interrupted') {
      interrupted = true;
      stopped = true;
    }
    const ofArm = cells.filter((c) => c.arm.name === cell.arm.name);
    const ofArmDone = results.filter((x) => x.arm === cell.arm.name);
    if (!launchFailure && ofArmDone.length === ofArm.length) {
      const ran = ofArmDone.filter((x) => !x.alreadyComplete);
      if (ran.length > 0 && ran.every((x) => x.failure?.phase === 'launch')) {
        const reasons: LaunchFailure['reasons'] = [];
        for (const x of ran) {
          const f = x.failure as CellFailure;
          if (!reasons.some((q) => q.message === f.message))
            reasons.push({ message: f.message, ...(f.hint ? { hint: f.hint } : {}) });
        }
        launchFailure = { arm: cell.arm.name, cells: ran.map((x) => x.id), reasons };
        stopped = true;
      }
    }
  };
  const pool = new Set<Promise<void>>();
  // a slot per job in the queue; a job listens on port + slot x stride (two on one node never collide)
  const slots: boolean[] = [];
  const stride = slurmSpec ? slurmPortStride(spec, cells, runDir, baseDir) : 1;
  const drain = async () => {
    while (pool.size > 0) await Promise.race(pool);
  };
  try {
    for (const cell of cells) {
      const dir = join(runDir, cell.id);
      const prev = readCellForResume(dir);
      if (prev) {
        if (prev.status === 'complete') {
          toSubmit--;
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
      const earlier = results.find((r) => r.arm === cell.arm.name && r.failure?.phase === 'launch');
      if (slurmShared && cell.server.launcher === 'slurm') {
        while (pool.size >= maxJobs) await Promise.race(pool);
        if (stop.signal.aborted || stopped) {
          if (opts.signal?.aborted) interrupted = true;
          break;
        }
        toSubmit--;
        inFlight.set(cell.id, { startMs: performance.now() });
        let slot = slots.indexOf(false);
        if (slot < 0) slot = slots.length;
        slots[slot] = true;
        const shared = { ...slurmShared, portOffset: slot * stride };
        const p: Promise<void> = runCell({ ...cx, signal: stop.signal, slurm: shared }, cell, dir, earlier)
          .then(
            (r) => {
              slots[slot] = false;
              inFlight.delete(cell.id);
              finish(cell, r);
              opts.log(slurmLine());
            },
            (err: unknown) => {
              slots[slot] = false;
              inFlight.delete(cell.id);
              firstError ??= err;
              stop.abort();
            },
          )
          .finally(() => pool.delete(p));
        pool.add(p);
        continue;
      }
      // a cell on this machine: alone (the jobs of earlier cells end first)
      await drain();
      if (opts.signal?.aborted || stopped || firstError !== undefined) {
        if (opts.signal?.aborted) interrupted = true;
        break;
      }
      toSubmit--;
      finish(cell, await runCell(cx, cell, dir, earlier));
      if (stopped) break;
    }
    await drain();
  } finally {
    // an unexpected error in this loop: cancel the jobs still queued, wait until SLURM says they ended
    if (pool.size > 0) {
      stop.abort();
      await Promise.allSettled([...pool]);
    }
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (firstError !== undefined) throw firstError;
  // the jobs end in any order: the results in plan order
  const order = new Map(cells.map((c, i) => [c.id, i]));
  results.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
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
export function assertLaunchable(spec: Spec, env: NodeJS.ProcessEnv, plan?: Plan): void {
  const problems = launchProblems(
    spec.servers,
    spec.arms.map((a) => a.servers),
    env,
  );
  // `kind: vllm` servers: the processes each config renders to (vllm, or servelab for engine: sim)
  const configs = new Set((plan ?? planExperiment(spec, 'real', { env })).cells.map((c) => c.server));
  const firstOfEach: Record<string, ServersSpec> = {};
  const argv0 = new Set<string>();
  for (const c of configs) {
    // launcher slurm: the processes start on the job's nodes, not here
    if (c.launcher === 'slurm') continue;
    const a = c.vllm && c.spec.kind === 'command' ? c.spec.processes[0]?.argv[0] : undefined;
    if (a === undefined || argv0.has(a)) continue;
    argv0.add(a);
    firstOfEach[`${c.name}${c.label ? ` (${c.label})` : ''}`] = c.spec;
  }
  problems.push(...launchProblems(firstOfEach, Object.keys(firstOfEach), env));
  if (problems.length > 0) throw combinedLaunchError(problems);
}

/**
 * A sim topology that does not parse is bad input (exit 2), found before the matrix starts;
 * in virtual time the arms' `simulateAs` topologies too.
 */
export function assertTopologies(spec: Spec, baseDir: string, mode: TimeMode = 'real'): void {
  for (const name of new Set(spec.arms.map((a) => a.servers))) {
    const s = spec.servers[name];
    if (s?.kind === 'sim') readTopology(s.topology, baseDir);
  }
  if (mode === 'virtual')
    for (const a of spec.arms) if (a.simulateAs) readTopology(a.simulateAs.topology, baseDir);
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

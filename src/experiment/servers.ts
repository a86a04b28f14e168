/**
 * Servers of one cell: the simulator (started fresh via startSimServers), external endpoints
 * (nothing to start), or command recipes (spawned, health-waited, their groups killed at the end).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { loadModelConfigFile, parseModelConfig } from '../config/load.js';
import { endpointsOf, type ModelConfig } from '../config/model-config.js';
import type { ServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import {
  assertPortFree,
  findExecutable,
  killGroup,
  type LaunchedProcess,
  spawnRecipe,
  waitHealthy,
} from '../launch/local.js';
import type { Endpoint } from '../loadgen/transport.js';
import { type ExecFileFn, GPU_HELD_MIB, queryGpus } from '../preflight/gpu.js';
import {
  DEFAULT_GPU,
  type SimServerSpec,
  type StartSimOptions,
  startSimServers,
} from '../sim/server/index.js';
import { parseTopology } from '../sim/server/topology.js';

export interface ServerInfo {
  label: string;
  url: string;
  model: string;
  port: number;
  flags?: string[] | Record<string, unknown>;
  log?: string;
}

export interface RunningServers {
  endpoints: Map<string, Endpoint[]>;
  experts: Record<string, string>;
  servers: ServerInfo[];
  stop(): Promise<void>;
}

export interface StartServersOptions {
  spec: ServersSpec;
  /** the spec's name of these servers (servers.<name>), for hints */
  name?: string;
  /**
   * sim: listen on the ports the topology names (W1: 1900, 1910-1913, ...) even where the
   * spec asks for free ports (`servelab run --w1-ports`)
   */
  topologyPorts?: boolean;
  baseDir: string;
  logsDir: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  seed: number;
  /** test hook: extra options for startSimServers (e.g. a toy engine) */
  simOverrides?: Partial<StartSimOptions>;
  /** test hook: how nvidia-smi is run before command servers are launched */
  execFile?: ExecFileFn;
  onNote?: (n: string) => void;
}

/**
 * Before command servers start: GPUs (those the recipes name in CUDA_VISIBLE_DEVICES, else all)
 * whose memory is already held, e.g. by a server of the previous cell that outlived its process
 * group, or a dead job (WORKFLOWS.md W4). Nothing when nvidia-smi is absent.
 */
export async function gpuNotesBeforeLaunch(
  processes: readonly { env?: Record<string, string> | undefined }[],
  execFile?: ExecFileFn,
): Promise<string[]> {
  const g = await queryGpus(execFile);
  if (!g.available) return [];
  // a process without CUDA_VISIBLE_DEVICES (or with GPU UUIDs in it) may use any GPU
  let all = false;
  const named = new Set<number>();
  for (const p of processes) {
    const ids = (p.env?.CUDA_VISIBLE_DEVICES ?? '').split(',').map((d) => d.trim());
    if (!ids.every((d) => /^\d+$/.test(d))) all = true;
    else for (const d of ids) named.add(Number(d));
  }
  return g.gpus
    .filter((x) => x.memoryUsedMiB > GPU_HELD_MIB && (all || named.has(x.index)))
    .map(
      (x) =>
        `before launch: GPU ${x.index} already holds ${x.memoryUsedMiB} MiB of ${x.memoryTotalMiB} MiB ` +
        '(a server of an earlier cell, or a dead job?); the new server may not fit, or may measure less KV cache than it should',
    );
}

function readEndpoints(e: string | ModelConfig, baseDir: string): ModelConfig {
  return typeof e === 'string' ? loadModelConfigFile(resolve(baseDir, e)) : e;
}

/** The sim topology (the sim's own file format, examples/w1-topology.yaml), from a file or inline. */
export function readTopology(
  t: string | Record<string, unknown>,
  baseDir: string,
): { servers: SimServerSpec[]; experts: Record<string, string>; host?: string } {
  let text: string;
  let where = 'inline topology';
  if (typeof t === 'string') {
    where = resolve(baseDir, t);
    try {
      text = readFileSync(where, 'utf8');
    } catch (err) {
      throw new ServelabError('BAD_FILE', `cannot read sim topology "${where}": ${(err as Error).message}`, {
        cause: err,
      });
    }
  } else text = toYaml(t);
  const r = parseTopology(text);
  if (!r.ok) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${r.issues.length} error(s) in sim topology:\n${r.issues.map((i) => `${where}:${i.line}:${i.col}: ${i.path}: ${i.message}`).join('\n')}`,
    );
  }
  // servers named expert-N are the experts (call_expert(expert="expert-N"))
  const experts: Record<string, string> = {};
  for (const s of r.topology.servers)
    if (s.name && /^expert-/.test(s.name)) experts[s.name] = s.servedModelName ?? s.model;
  return { servers: r.topology.servers, experts, ...(r.topology.host ? { host: r.topology.host } : {}) };
}

export async function startServers(opts: StartServersOptions): Promise<RunningServers> {
  const s = opts.spec;
  if (s.kind === 'external') {
    const cfg = readEndpoints(s.endpoints, opts.baseDir);
    const endpoints = endpointsOf(cfg);
    return { endpoints, experts: cfg.experts, servers: infos(endpoints), stop: async () => {} };
  }
  if (s.kind === 'sim') {
    const topo = readTopology(s.topology, opts.baseDir);
    const o = s.overrides;
    const simServers = topo.servers.map((x) => ({
      ...x,
      ...(o.stepTimeScale !== undefined ? { stepTimeScale: o.stepTimeScale } : {}),
      ...(o.stepTimeMs !== undefined ? { stepTimeMs: o.stepTimeMs } : {}),
      ...(o.maxModelLen !== undefined ? { maxModelLen: o.maxModelLen } : {}),
      ...(o.maxNumSeqs !== undefined ? { maxNumSeqs: o.maxNumSeqs } : {}),
      ...(o.freePorts && !opts.topologyPorts ? { port: 0 } : {}),
    }));
    const sim = await startSimServers({
      servers: simServers,
      seed: opts.seed,
      // the simulator's own warnings (it fell behind real time) become notes of the cell
      ...(opts.onNote ? { warn: opts.onNote } : {}),
      ...(topo.host ? { host: topo.host } : {}),
      ...opts.simOverrides,
    }).catch((err: unknown) => {
      if (err instanceof ServelabError && /already in use/.test(err.message)) {
        const where = `servers.${opts.name ?? '<name>'}.overrides`;
        throw new ServelabError('LAUNCH_FAILED', `${err.message} (another run on this machine?)`, {
          cause: err,
          hint: opts.topologyPorts
            ? 'run without --w1-ports: the simulator then listens on free ports (the real ones are recorded in cell.json and environment.json)'
            : `set \`freePorts: true\` in ${where}: the simulator then listens on free ports (the real ones are recorded in cell.json and environment.json)`,
        });
      }
      throw err;
    });
    const endpoints = new Map<string, Endpoint[]>();
    const servers: ServerInfo[] = [];
    for (const e of sim.endpoints) {
      const ep: Endpoint = { baseUrl: `${e.url}/v1`, model: e.model, label: `127.0.0.1:${e.port}` };
      const list = endpoints.get(e.model) ?? [];
      list.push(ep);
      endpoints.set(e.model, list);
      const spec = simServers.find((x) => (x.servedModelName ?? x.model) === e.model);
      servers.push({
        label: ep.label as string,
        url: e.url,
        model: e.model,
        port: e.port,
        // the GPU profile it simulated, also when the topology named none (the report states it)
        flags: { ...spec, gpu: spec?.gpu ?? DEFAULT_GPU, simulated: true },
      });
    }
    return { endpoints, experts: topo.experts, servers, stop: () => sim.close() };
  }
  const cfg = readEndpoints(s.endpoints, opts.baseDir);
  const launched: LaunchedProcess[] = [];
  const stop = async () => {
    await Promise.all(launched.map((p) => killGroup(p, s.stopTimeoutS * 1000)));
  };
  for (const r of s.processes) findExecutable(r, opts.env);
  for (const r of s.processes) await assertPortFree(r);
  for (const n of await gpuNotesBeforeLaunch(s.processes, opts.execFile)) opts.onNote?.(n);
  try {
    for (const r of s.processes) launched.push(spawnRecipe(r, opts.logsDir, opts.env));
    await Promise.all(
      s.processes.map((r, i) =>
        waitHealthy(
          launched[i] as LaunchedProcess,
          r.health ?? `http://127.0.0.1:${r.port}/health`,
          s.healthTimeoutS * 1000,
          opts.signal,
        ),
      ),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const endpoints = endpointsOf(cfg);
  const servers = infos(endpoints).map((info) => {
    const i = s.processes.findIndex((p) => p.port === info.port);
    const p = s.processes[i];
    return p ? { ...info, label: p.label, flags: p.argv, log: launched[i]?.logPath } : info;
  });
  return { endpoints, experts: cfg.experts, servers, stop };
}

/**
 * What can be known before anything starts: every `command` recipe's executable (argv[0]) is
 * found (on PATH or at its path). One error per recipe that cannot be started; `--dry-run` and
 * `servelab run` (before it creates the run directory) report them and exit 3.
 */
export function launchProblems(
  servers: Readonly<Record<string, ServersSpec>>,
  names: readonly string[],
  env: NodeJS.ProcessEnv,
): ServelabError[] {
  const out: ServelabError[] = [];
  for (const name of new Set(names)) {
    const s = servers[name];
    if (s?.kind !== 'command') continue;
    for (const r of s.processes) {
      try {
        findExecutable(r, env);
      } catch (err) {
        if (!(err instanceof ServelabError)) throw err;
        out.push(
          new ServelabError('LAUNCH_FAILED', `servers.${name}: ${err.message}`, {
            ...(err.hint ? { hint: err.hint } : {}),
          }),
        );
      }
    }
  }
  return out;
}

function infos(endpoints: Map<string, Endpoint[]>): ServerInfo[] {
  const out: ServerInfo[] = [];
  for (const [model, list] of endpoints) {
    for (const e of list) {
      const url = e.baseUrl.replace(/\/v1\/?$/, '');
      out.push({ label: e.label ?? url, url, model, port: Number(new URL(url).port) });
    }
  }
  return out;
}

/** parseModelConfig re-exported for the agent command (a model-config JSON without a spec). */
export { parseModelConfig };

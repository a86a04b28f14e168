/**
 * The one planner: a spec becomes cells, arms x server configs x load levels x repetitions, in
 * the order they run. An arm's server configs are its `servers` entry, or, for `kind: vllm`
 * servers with a `sweep`, one config per sweep point (experiment/sweep.ts), each rendered to
 * the processes it starts (launch/vllm-recipe.ts: `vllm serve`, or `servelab sim` with the same
 * flags for engine: sim; in virtual time the simulated engine in-process). Load levels are the
 * spec's concurrencies, then its request rates. The time mode decides each config's launcher
 * (launch/registry.ts); in virtual time an arm whose servers are `command` or `external` runs
 * its `simulateAs` system, or is refused.
 */
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { BOUNDS } from '../config/bounds.js';
import { modelConfigSchema } from '../config/model-config.js';
import type { ArmSpec, ServersSpec, Spec, VllmServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LauncherKind } from '../launch/launcher.js';
import { launcherKind, type TimeMode } from '../launch/registry.js';
import { compileCacheRoot, planServerProcesses, type VllmServerConfig } from '../launch/vllm-recipe.js';
import { stageSeed } from '../loadgen/sweep.js';
import { shellQuote } from '../shell-quote.js';
import type { SimEngineOptions } from '../sim/server/index.js';
import { expandSweep, type SweepPoint } from './sweep.js';

/** Servers the launchers start (a `kind: vllm` entry is rendered to one of these per config). */
export type LaunchSpec = Exclude<ServersSpec, { kind: 'vllm' }>;

/** One server configuration of an arm: what is started for its cells. */
export interface ServerConfig {
  /** the spec's servers.<name> */
  name: string;
  /** `cfg<k>` when the arm has several configs (a sweep), else undefined */
  label?: string;
  spec: LaunchSpec;
  launcher: LauncherKind;
  /** swept server parameters of this config (the sweep's phase and its flags) */
  params: Record<string, string | number | boolean>;
  /** virtual time: the arm's own servers' kind that `simulateAs` stands in for */
  standsInFor?: ServersSpec['kind'];
  /** a `kind: vllm` entry: the typed config this cell's servers were rendered from */
  vllm?: VllmServerConfig;
  /** what vLLM is known to refuse or ignore in this config (the dry run says so) */
  warnings?: string[];
  /** nodes one vLLM of this config spans (over Ray) */
  nodes?: number;
  /** engine: sim: the settings given that the simulator does not model (reported, never dropped) */
  notModelled?: string[];
  /** virtual time, engine: sim: engine settings a sim topology has no key for */
  engineExtras?: Partial<SimEngineOptions>;
  /** real time, `kind: vllm`: the per-user compile-cache root of its processes */
  cacheRoot?: string;
}

/** A load level: requests (or programs) in flight, requests/s, or every request at once (rate inf). */
export type LoadLevel =
  | { kind: 'concurrency'; concurrency: number }
  | { kind: 'rate'; ratePerSec: number }
  | { kind: 'burst' };

export interface Cell {
  /** 0-based position in the plan */
  index: number;
  /** <arm>/c<C>/r<rep>: the cell's directory and its name in run.json */
  id: string;
  arm: ArmSpec;
  server: ServerConfig;
  load: LoadLevel;
  /** the load's concurrency (agent programs or requests in flight); 0 for a rate level */
  concurrency: number;
  rep: number;
  /** spec.seed + rep - 1 */
  seed: number;
  /** 0-based position of the load level among its server config's levels */
  level: number;
  /**
   * The seed a request-stream cell draws its prompts with: `seed` at the first level, then
   * stageSeed(seed, level), so a later level does not re-send the first level's prompts to a
   * server whose prefix cache still holds them (agent cells: `seed`, every level the same tasks).
   */
  promptSeed: number;
}

export interface Plan {
  mode: TimeMode;
  cells: Cell[];
}

export interface PlanOptions {
  /** HOME and USER of the compile-cache root (default: this user's) */
  env?: NodeJS.ProcessEnv;
  /**
   * Levels planned after others of the same servers (an automatic sweep's rates after its
   * probes): their prompt seeds continue from this level.
   */
  levelOffset?: number;
}

const RECIPE_KEYS = new Set([
  'kind',
  'nodes',
  'port',
  'gpus',
  'cache_root',
  'vllm_bin',
  'servelab_bin',
  'healthTimeoutS',
  'stopTimeoutS',
  'stepTimeScale',
]);

/** The typed vLLM config of a `kind: vllm` entry with a sweep point applied. */
export function vllmConfigOf(s: VllmServersSpec, point: SweepPoint = {}): VllmServerConfig {
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (!RECIPE_KEYS.has(k) && v !== undefined) cfg[k] = v;
  return { ...(cfg as unknown as VllmServerConfig), ...(point as Partial<VllmServerConfig>) };
}

/** A `kind: vllm` config rendered for its launcher: processes (real time) or engines (virtual). */
function renderVllm(
  name: string,
  s: VllmServersSpec,
  cfg: VllmServerConfig,
  mode: TimeMode,
  where: string,
  env: NodeJS.ProcessEnv,
): Pick<ServerConfig, 'spec' | 'launcher' | 'notModelled' | 'engineExtras' | 'cacheRoot'> {
  const engine = cfg.engine ?? 'vllm';
  if (mode === 'virtual') {
    if (engine !== 'sim')
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: engine vllm cannot run in virtual time (every server of a simulated run is a simulated engine)`,
        {
          hint: `set servers.${name}.engine: sim (the same vLLM flags on the simulator), or run in real time`,
        },
      );
    const served = cfg.served_model_name;
    const dp = (cfg.dp_mode ?? (cfg.enable_expert_parallel ? 'internal' : 'replicas')) === 'replicas';
    const topology: Record<string, unknown> = {
      servers: [
        {
          model: cfg.model,
          ...(served ? { served_model_name: served } : {}),
          ...(cfg.gpu ? { gpu: cfg.gpu } : {}),
          ...(cfg.tensor_parallel_size ? { tp: cfg.tensor_parallel_size } : {}),
          ...(dp && cfg.data_parallel_size ? { dp: cfg.data_parallel_size } : {}),
          port: s.port,
          ...(cfg.gpu_memory_utilization !== undefined
            ? { gpu_memory_utilization: cfg.gpu_memory_utilization }
            : {}),
          ...(cfg.max_model_len !== undefined ? { max_model_len: cfg.max_model_len } : {}),
          ...(cfg.max_num_seqs !== undefined ? { max_num_seqs: cfg.max_num_seqs } : {}),
          ...(cfg.max_num_batched_tokens !== undefined
            ? { max_num_batched_tokens: cfg.max_num_batched_tokens }
            : {}),
          ...(cfg.scheduling_policy !== undefined ? { scheduling_policy: cfg.scheduling_policy } : {}),
        },
      ],
    };
    const extras: Partial<SimEngineOptions> = {
      ...(cfg.pipeline_parallel_size ? { pp: cfg.pipeline_parallel_size } : {}),
      ...(cfg.kv_cache_dtype !== undefined && cfg.kv_cache_dtype !== 'auto'
        ? { kvCacheDtype: 'fp8' as const }
        : {}),
      ...(cfg.enable_prefix_caching !== undefined ? { enablePrefixCaching: cfg.enable_prefix_caching } : {}),
      ...(cfg.block_size !== undefined ? { blockSize: cfg.block_size } : {}),
    };
    // the same rendering as real time, for its list of settings the simulator does not model
    const r = planServerProcesses(cfg, {
      name,
      basePort: s.port,
      cacheRoot: '/nonexistent-cache',
      hostTag: 'virtual',
      gpus: Array.from({ length: 4096 }, (_, i) => i),
      where,
    });
    return {
      spec: {
        kind: 'sim',
        topology,
        overrides: { ...(s.stepTimeScale !== undefined ? { stepTimeScale: s.stepTimeScale } : {}) },
      },
      launcher: 'sim-virtual',
      notModelled: r.notModelled,
      engineExtras: extras,
    };
  }
  const home = env.HOME ?? homedir();
  const user = env.USER ?? userInfo().username;
  // the simulator compiles nothing: its cache variables are set (the same env as vLLM's), not checked
  const cacheRoot =
    engine === 'sim'
      ? (s.cache_root ?? join(home, '.cache', 'servelab', 'compile'))
      : compileCacheRoot({
          home,
          user,
          ...(s.cache_root !== undefined ? { root: s.cache_root } : {}),
          where: `${where}.cache_root`,
        });
  let gpus = s.gpus;
  if (s.nodes > 1) {
    // one vLLM over Ray spanning the nodes: this machine holds the head's share of the GPUs
    const perNode = s.gpus?.length ?? 8;
    const span = (cfg.tensor_parallel_size ?? 1) * (cfg.pipeline_parallel_size ?? 1);
    if (engine === 'vllm' && span !== s.nodes * perNode)
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: TP x PP = ${span} GPUs, but ${s.nodes} nodes x ${perNode} GPUs = ${s.nodes * perNode}`,
        {
          hint: 'make tensor_parallel_size x pipeline_parallel_size span the nodes, e.g. TP 8 x PP 8 on 8 x 8 GPUs',
        },
      );
    if (engine === 'vllm' && cfg.distributed_executor_backend !== 'ray')
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: nodes ${s.nodes} needs distributed_executor_backend: ray`,
        {
          hint: 'vLLM spans nodes with its Ray executor (W3, W5)',
        },
      );
    if ((cfg.data_parallel_size ?? 1) > 1)
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: data_parallel_size over ${s.nodes} nodes is not rendered`,
        {
          hint: 'one multi-node vLLM per config (TP x PP spanning the nodes)',
        },
      );
    gpus = Array.from({ length: span }, (_, i) => i);
  }
  const r = planServerProcesses(cfg, {
    name,
    basePort: s.port,
    cacheRoot,
    hostTag: hostname().split('.')[0] || 'host',
    ...(gpus ? { gpus } : {}),
    ...(s.vllm_bin ? { vllm: s.vllm_bin } : {}),
    ...(s.servelab_bin ? { servelab: s.servelab_bin } : {}),
    where,
  });
  const served = cfg.served_model_name ?? cfg.model;
  const endpoints = modelConfigSchema.parse({
    [served]: r.processes.map((p) => ({ ip_addr: '127.0.0.1', port: String(p.port) })),
  });
  return {
    spec: {
      kind: 'command',
      processes: r.processes.map((p) => ({
        label: p.label,
        argv: p.argv,
        // multi-node: the head's own GPUs are visible here; Ray places the other ranks
        env:
          s.nodes > 1
            ? { ...p.env, CUDA_VISIBLE_DEVICES: (s.gpus ?? [0, 1, 2, 3, 4, 5, 6, 7]).join(',') }
            : p.env,
        port: p.port,
        ...(p.health ? { health: p.health } : {}),
      })),
      endpoints,
      healthTimeoutS: s.healthTimeoutS,
      stopTimeoutS: s.stopTimeoutS,
    },
    launcher: 'command',
    notModelled: r.notModelled,
    cacheRoot,
  };
}

/**
 * Settings vLLM refuses together (docs/configuration/optimization.md: "When chunked prefill is
 * disabled, max_num_batched_tokens must be greater than max_model_len"; config/parallel.py on
 * redundant experts without EPLB); such a config's cells fail at launch, the dry run says so first.
 */
export function configWarnings(cfg: VllmServerConfig): string[] {
  const out: string[] = [];
  const mnbt = cfg.max_num_batched_tokens;
  const len = cfg.max_model_len;
  if (cfg.enable_chunked_prefill === false && mnbt !== undefined && len !== undefined && mnbt < len)
    out.push(
      `enable_chunked_prefill false with max_num_batched_tokens ${mnbt} < max_model_len ${len}: vLLM refuses to start (without chunking a whole prompt must fit one step)`,
    );
  // vllm/config/parallel.py: "num_redundant_experts is set to N but EPLB is not enabled"
  if ((cfg.eplb_num_redundant_experts ?? 0) > 0 && cfg.enable_eplb !== true)
    out.push(
      `eplb_num_redundant_experts ${cfg.eplb_num_redundant_experts} without enable_eplb: vLLM refuses to start ("num_redundant_experts is set to ${cfg.eplb_num_redundant_experts} but EPLB is not enabled")`,
    );
  return out;
}

/** An arm's server configs: one, or one per sweep point of its `kind: vllm` servers. */
function serverConfigs(spec: Spec, arm: ArmSpec, mode: TimeMode, env: NodeJS.ProcessEnv): ServerConfig[] {
  const s = spec.servers[arm.servers];
  if (s?.kind !== 'vllm') return [serverConfig(spec, arm, mode)];
  const where = `servers.${arm.servers}`;
  const base = vllmConfigOf(s);
  const points: { point: SweepPoint; phase?: string }[] = spec.sweep
    ? expandSweep(spec.sweep, base as SweepPoint, 'sweep').flatMap((g) =>
        g.points.map((point) => ({ point, phase: g.phase })),
      )
    : [{ point: {} }];
  const swept = [...new Set(points.flatMap(({ point }) => Object.keys(point)))];
  // one config per distinct flag set (a point a phase repeats runs once, under its first phase)
  const seen = new Set<string>();
  const out: ServerConfig[] = [];
  for (const { point, phase } of points) {
    const cfg = vllmConfigOf(s, point);
    const key = JSON.stringify(Object.entries(cfg).sort(([a], [b]) => a.localeCompare(b)));
    if (seen.has(key)) continue;
    seen.add(key);
    const label = points.length > 1 ? `cfg${out.length + 1}` : undefined;
    const r = renderVllm(arm.servers, s, cfg, mode, label ? `${where} (${label})` : where, env);
    out.push({
      name: arm.servers,
      ...(label ? { label } : {}),
      ...r,
      // launcher slurm: the cell is a job that starts these processes itself (launch/slurm-launcher.ts)
      ...(mode === 'real' && spec.launcher?.kind === 'slurm' ? { launcher: 'slurm' as const } : {}),
      // every flag the sweep varies anywhere, at this config's value (a column of the results each)
      params: {
        ...(phase && spec.sweep ? { phase } : {}),
        ...Object.fromEntries(
          swept.flatMap((k) => {
            const v = (cfg as unknown as Record<string, unknown>)[k];
            return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? [[k, v]] : [];
          }),
        ),
      },
      vllm: cfg,
      ...(s.nodes > 1 ? { nodes: s.nodes } : {}),
      ...(configWarnings(cfg).length ? { warnings: configWarnings(cfg) } : {}),
    });
  }
  return out;
}

function serverConfig(spec: Spec, arm: ArmSpec, mode: TimeMode): ServerConfig {
  const s = spec.servers[arm.servers];
  if (!s)
    throw new ServelabError('BAD_CONFIG', `arm ${arm.name}: unknown servers ${arm.servers}`, {
      hint: `the spec's servers: ${Object.keys(spec.servers).join(', ')}`,
    });
  if (s.kind === 'vllm') throw new Error('serverConfig: kind vllm is rendered by serverConfigs');
  const own = launcherKind(s.kind, mode);
  if (own) return { name: arm.servers, spec: s, launcher: own, params: {} };
  if (arm.simulateAs) {
    const stand: ServersSpec = { kind: 'sim', ...arm.simulateAs };
    return {
      name: arm.servers,
      spec: stand,
      launcher: launcherKind('sim', mode) as LauncherKind,
      params: {},
      standsInFor: s.kind,
    };
  }
  throw new ServelabError(
    'BAD_CONFIG',
    `arm ${arm.name}: its servers (servers.${arm.servers}) are kind ${s.kind}, which cannot run in virtual time (every server of a simulated run is a simulated engine)`,
    {
      hint: `say which simulated system stands in for them: arms[${arm.name}].simulateAs: {topology: <a sim topology file or inline>} (docs/FORMATS.md), or run it in real time with \`servelab run\``,
    },
  );
}

/** The spec's load levels in run order: its concurrencies, then its request rates. */
export function loadLevels(spec: Spec): LoadLevel[] {
  return [
    ...(spec.concurrency ?? []).map((concurrency): LoadLevel => ({ kind: 'concurrency', concurrency })),
    ...(spec.rates ?? []).map(
      (r): LoadLevel => (r === 'inf' ? { kind: 'burst' } : { kind: 'rate', ratePerSec: r }),
    ),
  ];
}

/** `C=8`, `rate 2.5/s` or `every request at once`: a load level in words. */
export function describeLoad(l: LoadLevel): string {
  return l.kind === 'concurrency'
    ? `C=${l.concurrency}`
    : l.kind === 'rate'
      ? `rate ${l.ratePerSec}/s`
      : 'every request at once (rate inf)';
}

/** `c8`, `rate2.5` or `burst`: a load level's directory name. */
export function loadTag(l: LoadLevel): string {
  return l.kind === 'concurrency' ? `c${l.concurrency}` : l.kind === 'rate' ? `rate${l.ratePerSec}` : 'burst';
}

export function planExperiment(spec: Spec, mode: TimeMode = 'real', opts: PlanOptions = {}): Plan {
  const cells: Cell[] = [];
  const env = opts.env ?? {};
  const levels = loadLevels(spec);
  for (const arm of spec.arms) {
    const configs = serverConfigs(spec, arm, mode, env);
    for (const server of configs)
      levels.forEach((load, level) => {
        for (let rep = 1; rep <= spec.repetitions; rep++) {
          const seed = spec.seed + rep - 1;
          cells.push({
            index: cells.length,
            id: `${arm.name}/${server.label ? `${server.label}/` : ''}${loadTag(load)}/r${rep}`,
            arm,
            server,
            load,
            concurrency: load.kind === 'concurrency' ? load.concurrency : 0,
            rep,
            seed,
            level: level + (opts.levelOffset ?? 0),
            promptSeed: spec.workload.requests ? stageSeed(seed, level + (opts.levelOffset ?? 0)) : seed,
          });
        }
      });
  }
  if (cells.length > BOUNDS.cells)
    throw new ServelabError(
      'BAD_CONFIG',
      `the plan has ${cells.length.toLocaleString('en-US')} cells (arms x server configs x load levels x repetitions); at most ${BOUNDS.cells.toLocaleString('en-US')}`,
      { hint: 'sweep fewer flags (sweep.mode: ofat varies one at a time), or fewer load levels' },
    );
  return { mode, cells };
}

/** One line per server config: what is launched (argv of command recipes, quoted for pasting). */
function describeServer(c: ServerConfig): string {
  const s = c.spec;
  const who = c.standsInFor ? ` (simulateAs, for kind ${c.standsInFor})` : '';
  if (s.kind === 'sim' && c.vllm) {
    const v = c.vllm;
    const flags = Object.entries(v)
      .filter(([k]) => !['engine', 'model', 'version'].includes(k))
      .map(([k, x]) => `${k}=${typeof x === 'object' ? JSON.stringify(x) : x}`)
      .join(' ');
    return `${c.launcher}: the simulated engine in-process, ${shellQuote(v.model)}${flags ? ` ${flags}` : ''}`;
  }
  if (s.kind === 'sim')
    return `${c.launcher}${who}: topology ${typeof s.topology === 'string' ? shellQuote(s.topology) : 'inline'}`;
  if (s.kind === 'external') return 'external: endpoints already running';
  const slurm = c.launcher === 'slurm';
  const nodes =
    c.nodes && c.nodes > 1
      ? slurm
        ? ` (the job's Ray cluster over ${c.nodes} nodes, vLLM on its head)`
        : ` (over the Ray cluster of ${c.nodes} nodes this machine heads)`
      : '';
  // a vLLM recipe: its environment too (VLLM_ALL2ALL_BACKEND before 0.11.1, NCCL, GPUs, caches)
  if (c.vllm)
    return `${slurm ? 'slurm job, ' : ''}command${nodes}: ${s.processes
      .map(
        (p) =>
          `${p.label}: ${Object.entries(p.env)
            .map(([k, v]) => `${k}=${shellQuote(v)} `)
            .join('')}${p.argv.map(shellQuote).join(' ')}`,
      )
      .join('; ')}`;
  return `command: ${s.processes.map((p) => `${p.label}: ${p.argv.map(shellQuote).join(' ')}`).join('; ')}`;
}

/** The plan as `--dry-run` prints it: every cell in run order, with what it launches. */
export function planLines(plan: Plan): string[] {
  const n = plan.cells.length;
  const configs = new Set(plan.cells.map((c) => c.server)).size;
  const out = [
    `plan: ${n} cell(s) in ${plan.mode} time, ${configs} server config(s) (fresh servers for every cell)`,
  ];
  let last: ServerConfig | undefined;
  for (const c of plan.cells) {
    if (c.server !== last) {
      const s = c.server;
      const params = Object.entries(s.params)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      out.push(
        `  servers.${s.name}${s.label ? ` ${s.label}` : ''} for arm ${c.arm.name}${params ? ` [${params}]` : ''}: ${describeServer(s)}`,
      );
      if (s.notModelled?.length) out.push(`    not modelled by the simulator: ${s.notModelled.join(', ')}`);
      for (const w of s.warnings ?? []) out.push(`    warning: ${w}`);
    }
    last = c.server;
    const load = describeLoad(c.load);
    out.push(`    cell ${c.index + 1} of ${n}: ${c.id} (${load}, seed ${c.seed})`);
  }
  return out;
}

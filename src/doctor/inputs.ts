/**
 * The offline inputs of `servelab doctor`: a spec (its `command` recipes, arms and endpoints), a
 * launch script, a model-config JSON. Each becomes process recipes, node uses and endpoint lists
 * for the checks; files that do not parse are bad input (ServelabError, exit 2).
 */
import { resolve } from 'node:path';
import type { LoadedSpec } from '../config/load.js';
import { endpointsOf, type ModelConfig } from '../config/model-config.js';
import { ServelabError } from '../errors.js';
import { planExperiment, type ServerConfig } from '../experiment/plan.js';
import { findModel } from '../knowledge/models.js';
import { checkArms, checkProcesses } from './checks.js';
import type { Finding } from './findings.js';
import { checkNodes, type NodeUse, nodesOfCommand, type SlurmAsk, slurmAsk } from './nodes.js';
import { commandsOfArgv, type ProcessRecipe } from './recipe.js';
import { parseScript } from './shell.js';

export interface OfflineOptions {
  /** the environment servelab runs in: recipe processes inherit it */
  env: Record<string, string | undefined>;
  badNodes: readonly string[];
  /** models that make tool calls (a script's orchestrator; a spec names its own) */
  toolModels?: readonly string[];
}

/** An endpoint a live probe can check: from a model-config, a spec, or a URL. */
export interface ProbeTarget {
  url: string;
  model?: string;
  tools: boolean;
  label?: string;
}

export interface OfflineResult {
  findings: Finding[];
  /** one line: what was read */
  summary: string;
  /** the endpoints it names (for --probe) */
  targets: ProbeTarget[];
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/;

/** Checks of a model-config (the users' JSON, or a spec's endpoints). */
export function checkModelConfig(
  where: string,
  cfg: ModelConfig,
  toolModels: readonly string[],
): OfflineResult {
  const out: Finding[] = [];
  const models = Object.keys(cfg.models);
  for (const [expert, model] of Object.entries(cfg.experts))
    if (!models.includes(model))
      out.push({
        check: 'model-config',
        severity: 'error',
        where: `${where}: oss_expert_mapping.${expert}`,
        message: `${expert} maps to "${model}", which has no replicas in this config`,
        why: 'every call to that expert fails: there is no server to send it to',
        fix: `add "${model}": [{"ip_addr": ..., "port": ...}] or map ${expert} to a model the config lists (${models.join(', ')})`,
      });
  const seen = new Map<string, string[]>();
  for (const [model, reps] of Object.entries(cfg.models))
    for (const r of reps) {
      const key = `${r.host}:${r.port}`;
      seen.set(key, [...(seen.get(key) ?? []), model]);
    }
  for (const [key, ms] of seen) {
    if (ms.length < 2) continue;
    const distinct = [...new Set(ms)];
    out.push({
      check: 'model-config',
      severity: distinct.length > 1 ? 'error' : 'warning',
      where: `${where}: ${distinct.map((m) => `"${m}"`).join(', ')}`,
      message:
        distinct.length > 1
          ? `${key} is listed under ${distinct.length} models (${distinct.join(', ')})`
          : `${key} is listed ${ms.length} times under "${distinct[0]}"`,
      why:
        distinct.length > 1
          ? 'one vLLM server serves one model: calls for the others fail with "model does not exist" (404)'
          : 'that replica gets a larger share of the calls than the others',
      fix: 'one entry per server; check the ports against the SSH forwards',
    });
  }
  for (const model of models)
    if (!findModel(model))
      out.push({
        check: 'model-config',
        severity: 'info',
        where: `${where}: "${model}"`,
        message: `${model} is not in servelab's model table: its tool parser and known pitfalls are not checked`,
        why: 'the checks look models up by name (knowledge/models.ts, knowledge/pitfalls.ts)',
        fix: 'nothing to do unless it is a checkpoint path of a known model under another name',
      });
  const expertModels = new Set(Object.values(cfg.experts));
  const targets: ProbeTarget[] = [];
  for (const [model, eps] of endpointsOf(cfg))
    for (const e of eps)
      targets.push({
        url: e.baseUrl.replace(/\/v1$/, ''),
        model,
        label: `${model}@${e.label}`,
        tools:
          toolModels.includes(model) ||
          (toolModels.length === 0 && expertModels.size > 0 && !expertModels.has(model)),
      });
  return {
    findings: out,
    summary: `${models.length} models, ${targets.length} endpoints, ${Object.keys(cfg.experts).length} experts`,
    targets,
  };
}

function endpointNodes(where: string, cfg: ModelConfig): NodeUse[] {
  return Object.values(cfg.models).flatMap((reps) =>
    reps.filter((r) => !LOOPBACK.test(r.host)).map((r) => ({ where, node: r.host, how: 'endpoint' })),
  );
}

/** A spec: every `command` recipe, the arms against each other, the endpoints. */
export function checkSpec(
  label: string,
  loaded: LoadedSpec,
  opts: OfflineOptions,
  readModelConfig: (file: string) => ModelConfig,
): OfflineResult {
  const { spec } = loaded;
  const toolModels = spec.agent ? [spec.agent.orchestrator] : [];
  const recipes = new Map<string, ProcessRecipe[]>();
  const uses: NodeUse[] = [];
  const slurm: SlurmAsk[] = [];
  const findings: Finding[] = [];
  const targets: ProbeTarget[] = [];
  let nProcs = 0;
  // `kind: vllm` servers: the processes every config of the plan renders to (argv and env, as
  // `servelab sweep --dry-run` prints them), checked like command recipes
  const vllm = vllmRecipes(label, loaded, opts);
  findings.push(...vllm.findings);
  nProcs += vllm.count;
  for (const [name, s] of Object.entries(spec.servers)) {
    if (s.kind === 'sim' || s.kind === 'vllm') continue;
    // an external server given by url + model (servelab bench's): nothing to read
    if (s.endpoints === undefined) continue;
    const cfg =
      typeof s.endpoints === 'string' ? readModelConfig(resolve(loaded.baseDir, s.endpoints)) : s.endpoints;
    const epWhere = `${label}: servers.${name}.endpoints`;
    // one definition of the endpoints for several servers (a YAML alias) is reported once
    const r = checkModelConfig(epWhere, cfg, toolModels);
    for (const f of r.findings) if (!findings.some((g) => g.message === f.message)) findings.push(f);
    for (const t of r.targets)
      if (!targets.some((u) => u.url === t.url && u.model === t.model)) targets.push(t);
    uses.push(...endpointNodes(epWhere, cfg));
    if (s.kind !== 'command') continue;
    const procs: ProcessRecipe[] = [];
    s.processes.forEach((p, i) => {
      nProcs++;
      const where = `${label}: servers.${name}.processes[${i}] (${p.label})`;
      for (const c of commandsOfArgv(p.argv)) {
        const own = { ...p.env, ...c.env };
        procs.push({
          where,
          group: name,
          argv: c.argv,
          env: { ...opts.env, ...own },
          ownEnv: new Set(Object.keys(own)),
          // servelab writes one log per recipe process
          logged: true,
        });
        const n = nodesOfCommand(where, c.argv);
        uses.push(...n.uses);
        slurm.push(...n.slurm);
      }
    });
    recipes.set(name, procs);
  }
  findings.push(...checkProcesses([...recipes.values()].flat(), { toolModels }));
  findings.push(
    ...checkArms(
      spec.arms.map((a) => ({
        name: a.name,
        procs: recipes.get(a.servers) ?? vllm.recipes.get(a.servers) ?? [],
      })),
    ),
  );
  findings.push(...checkNodes(uses, slurm, opts.badNodes));
  return {
    findings,
    summary: `${spec.name}, ${spec.arms.length} arm${spec.arms.length === 1 ? '' : 's'}, ${nProcs} recipe process${nProcs === 1 ? '' : 'es'}`,
    targets,
  };
}

/**
 * The processes of a spec's `kind: vllm` servers: every distinct server config of the planner's
 * real-time plan (a sweep's points included), rendered to argv and env; one group per config
 * (its processes run together), the arm comparison on each arm's first config. A config the
 * renderer refuses (a /tmp cache root, TP x PP not spanning the nodes) is an error finding.
 */
function vllmRecipes(
  label: string,
  loaded: LoadedSpec,
  opts: OfflineOptions,
): { recipes: Map<string, ProcessRecipe[]>; findings: Finding[]; count: number } {
  const recipes = new Map<string, ProcessRecipe[]>();
  const findings: Finding[] = [];
  if (!Object.values(loaded.spec.servers).some((s) => s.kind === 'vllm'))
    return { recipes, findings, count: 0 };
  let configs: ServerConfig[];
  try {
    configs = [...new Set(planExperiment(loaded.spec, 'real', { env: opts.env }).cells.map((c) => c.server))];
  } catch (e) {
    if (!(e instanceof ServelabError)) throw e;
    findings.push({
      check: 'server',
      severity: 'error',
      where: `${label}: servers`,
      message: e.message,
      why: 'servelab cannot render these servers: every cell would fail before it starts',
      fix: e.hint ?? 'fix the servers entry named above',
    });
    return { recipes, findings, count: 0 };
  }
  const all: ProcessRecipe[] = [];
  let count = 0;
  for (const c of configs) {
    if (!c.vllm || c.spec.kind !== 'command') continue;
    const group = `${c.name}${c.label ? ` (${c.label})` : ''}`;
    const declared = { version: c.vllm.version ?? '0.11.0', from: `servers.${c.name}.version` };
    const procs = c.spec.processes.map((p) => {
      count++;
      const own = { ...p.env };
      return {
        where: `${label}: servers.${group} ${p.label}`,
        group,
        argv: p.argv,
        env: { ...opts.env, ...own },
        ownEnv: new Set(Object.keys(own)),
        logged: true,
        // the recipe renders argv for this version (launch/vllm-recipe.ts): its pitfalls apply
        declaredVersion: declared,
      } satisfies ProcessRecipe;
    });
    all.push(...procs);
    if (!recipes.has(c.name)) recipes.set(c.name, procs);
  }
  // the per-process checks of every config; recipes (first config per servers name) for the arms
  findings.push(
    ...checkProcesses(all, { toolModels: loaded.spec.agent ? [loaded.spec.agent.orchestrator] : [] }),
  );
  return { recipes, findings, count };
}

/** A launch script: its `vllm serve` lines, cache handling, logs, SLURM and SSH lines. */
export function checkScript(label: string, text: string, opts: OfflineOptions): OfflineResult {
  const parsed = parseScript(text);
  const procs: ProcessRecipe[] = parsed.commands.map((c) => ({
    where: `${label}:${c.line}`,
    group: label,
    argv: c.argv,
    env: { ...opts.env, ...c.env },
    ownEnv: new Set(c.ownEnv),
    logged: c.logged,
  }));
  const uses: NodeUse[] = [];
  const slurm: SlurmAsk[] = [];
  for (const p of procs) {
    const n = nodesOfCommand(p.where, p.argv);
    uses.push(...n.uses);
    slurm.push(...n.slurm);
  }
  if (parsed.sbatch.length > 0) {
    // srun steps run inside the batch job's allocation: what it excludes, they never get
    const job = slurmAsk(`${label}: #SBATCH lines`, '#SBATCH', parsed.sbatch);
    for (const s of slurm) if (s.what === 'srun') s.exclude.push(...job.exclude);
    slurm.push(job);
  }
  const findings = [
    ...checkProcesses(procs, { toolModels: opts.toolModels ?? [] }),
    ...checkNodes(uses, slurm, opts.badNodes),
  ];
  return { findings, summary: `${procs.length} commands`, targets: [] };
}

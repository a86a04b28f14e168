/**
 * The recipe checks: each vLLM process against knowledge/ (tool parser per model, version
 * pitfalls, speculative-decoding pairs, compile caches, logs), the processes of one group
 * together (one cache directory shared), and the arms of one comparison against each other.
 */
import { findModel } from '../knowledge/models.js';
import {
  COMPILE_CACHE_ENV,
  pitfallsFor,
  SPEC_DECODE_GPU_MEMORY_UTILIZATION,
  SPEC_DECODE_PAIRS,
  specDecodePairFor,
  toolParserFor,
  VLLM_DEFAULT_GPU_MEMORY_UTILIZATION,
  VLLM_SAFE_SERIES,
} from '../knowledge/pitfalls.js';
import { type Finding, joinWhere } from './findings.js';
import { flagValue, type ProcessRecipe, type VllmServe, vllmServeOf } from './recipe.js';

export interface RecipeContext {
  /** models that make tool calls (a spec's orchestrator) */
  toolModels: readonly string[];
}

const serves = (s: VllmServe, model: string) => s.model === model || s.servedName === model;
const modelText = (s: VllmServe) => s.servedName ?? s.model ?? '?';

function toolParser(p: ProcessRecipe, s: VllmServe, ctx: RecipeContext): Finding[] {
  const out: Finding[] = [];
  const model = s.model ?? s.servedName ?? '';
  const expected = toolParserFor(model) ?? (s.servedName ? toolParserFor(s.servedName) : undefined);
  const parser = flagValue(s, 'tool-call-parser');
  const auto = s.flags.get('enable-auto-tool-choice') === true;
  const needed = ctx.toolModels.some((m) => serves(s, m));
  const want = `--enable-auto-tool-choice --tool-call-parser ${expected ?? '<the parser of this model>'}`;
  const base = { check: 'tool-parser' as const, where: p.where };
  if (needed && (!auto || !parser))
    out.push({
      ...base,
      severity: 'error',
      message: `${modelText(s)} makes the tool calls (the orchestrator) but the server has no ${[!auto ? '--enable-auto-tool-choice' : '', !parser ? '--tool-call-parser' : ''].filter(Boolean).join(' and no ')}`,
      why: 'vLLM answers every request with tools and tool_choice "auto" with HTTP 400 ("auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set)',
      fix: `add ${want}`,
    });
  else if (!needed && parser && !auto)
    out.push({
      ...base,
      severity: 'warning',
      message: `--tool-call-parser ${parser} without --enable-auto-tool-choice`,
      why: 'requests with tool_choice "auto" (what agent clients send) get HTTP 400 without both flags',
      fix: 'add --enable-auto-tool-choice, or drop the parser if this server makes no tool calls',
    });
  if (parser && expected && parser !== expected)
    out.push({
      ...base,
      severity: needed ? 'error' : 'warning',
      message: `--tool-call-parser ${parser}, but ${modelText(s)} needs "${expected}"`,
      why: `the parser reads the model's own tool-call format; with the wrong one the calls stay as text in content (or fail), so the tool name is never parsed (W4: gpt-oss needs openai, the orchestrator and Qwen3-Next use hermes)`,
      fix: `--tool-call-parser ${expected}`,
    });
  return out;
}

function version(p: ProcessRecipe, s: VllmServe, ctx: RecipeContext): Finding[] {
  if (!s.version) return [];
  const tools =
    ctx.toolModels.some((m) => serves(s, m)) ||
    s.flags.get('enable-auto-tool-choice') === true ||
    s.flags.has('tool-call-parser');
  return pitfallsFor({
    server: 'vllm',
    version: s.version,
    model: `${s.servedName ?? ''} ${s.model ?? ''}`,
    tools,
  })
    .filter((x) => x.severity !== 'info')
    .map((x) => ({
      check: 'vllm-version' as const,
      severity: x.severity === 'warn' ? ('warning' as const) : x.severity,
      where: p.where,
      message: `vLLM ${s.version} (from ${s.versionFrom}) serving ${modelText(s)}: ${x.message} [${x.id}]`,
      why: 'a known breakage of this version (WORKFLOWS.md W4)',
      fix: x.hint,
    }));
}

function gpuMemoryUtilization(s: VllmServe): number {
  const v = Number(flagValue(s, 'gpu-memory-utilization'));
  return Number.isFinite(v) && v > 0 ? v : VLLM_DEFAULT_GPU_MEMORY_UTILIZATION;
}

function specDecode(p: ProcessRecipe, s: VllmServe): Finding[] {
  const raw = flagValue(s, 'speculative-config');
  if (raw === undefined) return [];
  const base = { check: 'spec-decode' as const, where: p.where };
  let cfg: { method?: unknown; model?: unknown };
  try {
    cfg = JSON.parse(raw) as typeof cfg;
    if (!cfg || typeof cfg !== 'object') throw new Error('not an object');
  } catch (err) {
    return [
      {
        ...base,
        severity: 'error',
        message: `--speculative-config is not a JSON object: ${raw}`,
        why: `vLLM refuses to start (${(err as Error).message})`,
        fix: `e.g. --speculative-config '{"method": "eagle3", "model": "<draft>", "num_speculative_tokens": 3}'`,
      },
    ];
  }
  const out: Finding[] = [];
  const target = s.model ?? s.servedName ?? '';
  const method = typeof cfg.method === 'string' ? cfg.method : undefined;
  const draft = typeof cfg.model === 'string' ? cfg.model : undefined;
  const pair = specDecodePairFor(target);
  const pairText = (x: NonNullable<typeof pair>) =>
    `${x.method}${x.draft ? ` with ${x.draft}` : ''}${x.numSpeculativeTokens ? `, ${x.numSpeculativeTokens} tokens` : ''}`;
  const draftOf = draft ? SPEC_DECODE_PAIRS.find((x) => x.draft === draft) : undefined;
  if (draftOf && !draftOf.target.test(target))
    out.push({
      ...base,
      severity: 'error',
      message: `draft ${draft} is trained for ${draftOf.targetName}, not for ${target}`,
      why: 'an EAGLE / speculator head reads the hidden states of the model it was trained on; on another target it does not load or is never accepted',
      fix: pair ? `use ${pairText(pair)}` : 'use a draft trained for this target, or no speculative decoding',
    });
  else if (method?.endsWith('mtp') && !(pair && pair.method === method))
    out.push({
      ...base,
      severity: 'error',
      message: `method ${method} needs the target's own MTP layers; ${target} is not a model known to have them for this method`,
      why: "MTP drafts with the target model's built-in multi-token-prediction weights (e.g. Qwen3-Next's, method qwen3_next_mtp)",
      fix: pair ? `use ${pairText(pair)}` : 'use a draft model for this target, or no speculative decoding',
    });
  else if (pair && (method !== pair.method || (pair.draft && draft !== pair.draft)))
    out.push({
      ...base,
      severity: 'warning',
      message: `${target} with ${method ?? '?'}${draft ? ` / ${draft}` : ''}: not the known pair (${pairText(pair)})`,
      why: 'the pairs in WORKFLOWS.md W4 are the ones known to work with this target',
      fix: `use ${pairText(pair)}, or measure the acceptance rate (vllm:spec_decode_num_accepted_tokens_total / num_draft_tokens) before trusting it`,
    });
  // vocabulary: a separate draft model must share the target's tokenizer
  const tm = findModel(target);
  const dm = draft ? findModel(draft) : undefined;
  if (tm && dm && tm.vocab !== dm.vocab)
    out.push({
      ...base,
      severity: 'error',
      message: `draft ${draft} has a vocabulary of ${dm.vocab} tokens, target ${target} ${tm.vocab}`,
      why: 'draft tokens are verified by id against the target: different vocabularies mean no draft is ever right (vLLM refuses some of these pairs at start-up)',
      fix: 'use a draft of the same model family and tokenizer',
    });
  const gmu = gpuMemoryUtilization(s);
  if (gmu > SPEC_DECODE_GPU_MEMORY_UTILIZATION)
    out.push({
      ...base,
      severity: 'warning',
      message: `speculative decoding with --gpu-memory-utilization ${flagValue(s, 'gpu-memory-utilization') ?? `${gmu} (vLLM's default)`}`,
      why: `the draft's weights, KV cache and activations come out of the same GPU budget; our users run these pairs at ${SPEC_DECODE_GPU_MEMORY_UTILIZATION} (W4)`,
      fix: `--gpu-memory-utilization ${SPEC_DECODE_GPU_MEMORY_UTILIZATION}`,
    });
  return out;
}

const underTmp = (dir: string) => /^\/tmp(\/|$)/.test(dir) || /^\/var\/tmp(\/|$)/.test(dir);

function caches(p: ProcessRecipe): Finding[] {
  const out: Finding[] = [];
  for (const { name, defaultDir } of COMPILE_CACHE_ENV) {
    const dir = p.env[name];
    const inherited = !p.ownEnv.has(name);
    const base = { check: 'compile-cache' as const, where: p.where };
    if (dir === undefined || dir === '')
      out.push({
        ...base,
        severity: 'warning',
        message: `${name} is not set: the process uses ${defaultDir}`,
        why: `${defaultDir.startsWith('/tmp') ? 'on compute nodes /tmp is shared and cleaned, so ' : ''}every server of the user on the node shares that one cache; concurrent writers corrupt it ("Bytes object is corrupted, checksum does not match"), and torch.compile (5-10 min cold) starts from scratch when it is gone (W4)`,
        fix: `give this process its own ${name} under your home or scratch directory, e.g. ${name}=$HOME/.cache/servelab/<server>/${name === 'VLLM_CACHE_ROOT' ? 'vllm' : 'inductor'}`,
      });
    else if (underTmp(dir))
      out.push({
        ...base,
        severity: 'warning',
        message: `${name}=${dir}${inherited ? " (inherited from servelab's environment)" : ''} is under /tmp`,
        why: 'on compute nodes /tmp is shared with other users and jobs and cleaned: the cache is lost (torch.compile 5-10 min cold every run) or wiped under a running server (W4)',
        fix: `keep ${name} under your home or scratch directory, one per process`,
      });
  }
  return out;
}

/** `rm -rf /tmp/torchinductor_*` and the like: it deletes other jobs' caches too. */
export function cacheWipe(where: string, argv: readonly string[]): Finding | undefined {
  if (argv[0] !== 'rm' && !argv[0]?.endsWith('/rm')) return undefined;
  const hit = argv.slice(1).find((a) => /^\/tmp\/torchinductor_/.test(a));
  if (!hit) return undefined;
  return {
    check: 'cache-wipe',
    severity: 'error',
    where,
    message: `${argv.join(' ')}`,
    why: "/tmp on compute nodes is shared: this deletes the compile caches of every job on the node, other users' running servers included (W4)",
    fix: 'never clean /tmp/torchinductor_*; give each server its own TORCHINDUCTOR_CACHE_DIR under your home and delete only that one when it must go',
  };
}

/** Every check of single processes, then the shared caches of each group. */
export function checkProcesses(procs: readonly ProcessRecipe[], ctx: RecipeContext): Finding[] {
  const out: Finding[] = [];
  const unknownVersion: { where: string; launcher: string }[] = [];
  const vllm: { p: ProcessRecipe; s: VllmServe }[] = [];
  for (const p of procs) {
    const wipe = cacheWipe(p.where, p.argv);
    if (wipe) out.push(wipe);
    const s = vllmServeOf(p);
    if (!s) continue;
    vllm.push({ p, s });
    out.push(...toolParser(p, s, ctx), ...version(p, s, ctx), ...specDecode(p, s), ...caches(p));
    if (!s.version) unknownVersion.push({ where: p.where, launcher: s.launcher });
    if (!p.logged)
      out.push({
        check: 'log-file',
        severity: 'warning',
        where: p.where,
        message: `the server's output goes to no log file (${s.launcher} serve ${modelText(s)})`,
        why: 'when it dies or misbehaves, its start-up lines (KV cache size, the parser loaded) and the traceback are gone (W4: always send server logs to files, one per port)',
        fix: 'append `> logs/<port>.log 2>&1` or `2>&1 | tee logs/<port>.log`, or let `servelab run` start it from a spec recipe (one log per process)',
      });
  }
  // one cache directory for two processes that run at the same time
  for (const { name } of COMPILE_CACHE_ENV) {
    const byDir = new Map<string, ProcessRecipe[]>();
    for (const { p } of vllm) {
      const dir = p.env[name];
      if (!dir) continue;
      const key = `${p.group}\0${dir}`;
      byDir.set(key, [...(byDir.get(key) ?? []), p]);
    }
    for (const [key, ps] of byDir)
      if (ps.length > 1)
        out.push({
          check: 'compile-cache',
          severity: 'error',
          where: joinWhere(ps.map((p) => p.where)),
          message: `${ps.length} server processes that run at the same time share ${name}=${key.split('\0')[1]}${ps.every((p) => !p.ownEnv.has(name)) ? " (inherited from servelab's environment)" : ''}`,
          why: 'concurrent torch.compile writers corrupt a shared cache ("Bytes object is corrupted, checksum does not match") and the servers crash or recompile (W4)',
          fix: `one ${name} per process, e.g. with the port in the path`,
        });
  }
  if (unknownVersion.length > 0)
    out.push({
      check: 'vllm-version',
      severity: 'info',
      where: joinWhere(unknownVersion.map((u) => u.where)),
      message: `the recipes do not say which vLLM version they run (${[...new Set(unknownVersion.map((u) => u.launcher))].join(', ')}): its known breakages cannot be checked here`,
      why: `0.12.0 breaks every tool parser, 0.9.2 lacks gpt-oss and Qwen3-Next; ${VLLM_SAFE_SERIES} is the safe choice (W4)`,
      fix: 'run `servelab doctor http://host:port` against the running servers (it reads /version), or start vLLM from a path or image that names its version (e.g. /opt/vllm-0.11.0/bin/vllm, vllm/vllm-openai:v0.11.0)',
    });
  return out;
}

/** Flags that change capacity or behaviour of the engine: arms that differ in them are not comparable. */
const ENGINE_FLAGS = new Set([
  'gpu-memory-utilization',
  'max-num-seqs',
  'max-num-batched-tokens',
  'max-model-len',
  'kv-cache-dtype',
  'dtype',
  'quantization',
  'tensor-parallel-size',
  'pipeline-parallel-size',
  'data-parallel-size',
  'enable-prefix-caching',
  'no-enable-prefix-caching',
  'enable-chunked-prefill',
  'speculative-config',
  'block-size',
  'enforce-eager',
  'chat-template',
  'tool-call-parser',
  'enable-auto-tool-choice',
]);
/** Where a server listens and what it is called: differ between arms by design. */
const PLACEMENT_FLAGS = new Set(['port', 'host', 'served-model-name', 'model']);

/**
 * The arms of one comparison against each other: per model, the vLLM executables or versions
 * and the flags of the servers each arm starts.
 */
export function checkArms(arms: readonly { name: string; procs: readonly ProcessRecipe[] }[]): Finding[] {
  const out: Finding[] = [];
  const models = new Map<string, { arm: string; p: ProcessRecipe; s: VllmServe }[]>();
  for (const a of arms)
    for (const p of a.procs) {
      const s = vllmServeOf(p);
      if (!s) continue;
      const m = s.model ?? s.servedName ?? '?';
      models.set(m, [...(models.get(m) ?? []), { arm: a.name, p, s }]);
    }
  for (const [model, xs] of models) {
    if (new Set(xs.map((x) => x.arm)).size < 2) continue;
    const versionKey = (s: VllmServe) => s.version ?? s.launcher;
    const byVersion = new Map<string, Set<string>>();
    for (const x of xs)
      byVersion.set(versionKey(x.s), (byVersion.get(versionKey(x.s)) ?? new Set()).add(x.arm));
    if (byVersion.size > 1) {
      const allKnown = xs.every((x) => x.s.version);
      out.push({
        check: 'arms-differ',
        severity: 'warning',
        where: joinWhere(xs.map((x) => x.p.where)),
        message: `the arms serve ${model} with ${allKnown ? 'different vLLM versions' : 'different vLLM executables'}: ${[...byVersion].map(([v, a]) => `${v} (${[...a].join(', ')})`).join(' vs ')}`,
        why: "W2's arms ran different vLLM versions: part of every difference was the version, not the system under test",
        fix: allKnown
          ? 'run every arm on the same vLLM release (a fork built on the same one)'
          : "check that every executable is the same vLLM release (a fork built on the same one); the run records each server's /version in environment.json and `servelab compare` warns when they differ",
      });
    }
    const flagsOf = (s: VllmServe) =>
      new Set(
        [...s.flags]
          .filter(([k]) => !PLACEMENT_FLAGS.has(k))
          .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`)),
      );
    const sets = xs.map((x) => ({ arm: x.arm, where: x.p.where, flags: flagsOf(x.s) }));
    const all = new Set(sets.flatMap((x) => [...x.flags]));
    const differing = [...all].filter((f) => sets.some((x) => !x.flags.has(f)));
    if (differing.length === 0) continue;
    const engine = differing.some((f) => ENGINE_FLAGS.has(f.split(' ')[0]!.slice(2)));
    out.push({
      check: 'arms-differ',
      severity: engine ? 'warning' : 'info',
      where: joinWhere(sets.map((x) => x.where)),
      message: `the arms start ${model} with different flags: ${sets.map((x) => `${x.arm}: ${[...x.flags].filter((f) => differing.includes(f)).join(' ') || '(none of them)'}`).join('; ')}`,
      why: engine
        ? "these flags change the engine's capacity or behaviour: the arms would differ in more than the system under test"
        : "only the system under test should differ between arms; these flags look like that system's own switches",
      fix: engine
        ? 'give every arm the same engine flags, or make the difference its own arm'
        : 'nothing, if these flags are the system under test',
    });
  }
  return out;
}

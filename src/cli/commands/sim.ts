/**
 * `servelab sim`: start simulated vLLM servers (one model, DP replicas on consecutive ports, or a
 * whole topology file) and serve until SIGINT/SIGTERM.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, ServelabError } from '../../errors.js';
import { GPUS } from '../../knowledge/gpus.js';
import { MODELS } from '../../knowledge/models.js';
import { FAULT_HEADER, FAULT_KINDS, type FaultRate, parseFaultRates } from '../../sim/faults.js';
import { PERSONAS, type PersonaName } from '../../sim/persona.js';
import { type ContinuumOptions, isPolicyName, POLICY_NAMES } from '../../sim/policy/index.js';
import { type SchedulerTimestampsDoc, type SimServerSpec, startSimServers } from '../../sim/server/index.js';
import { CONTINUUM_PARSERS, parseTopology, portClashes, type Topology } from '../../sim/server/topology.js';
import type { CommandContext } from './index.js';
import { addRouterOptions, planRouter, type RouterFlags, startPlannedRouter } from './sim-router.js';

interface SimFlags extends RouterFlags {
  model?: string;
  servedModelName?: string;
  gpu?: string;
  tp?: string;
  tensorParallelSize?: string;
  pipelineParallelSize?: string;
  kvCacheDtype?: string;
  enablePrefixCaching?: boolean;
  enableChunkedPrefill?: boolean;
  blockSize?: string;
  schedulingPolicy?: string;
  continuumParser?: string;
  continuumTtlRule?: string;
  continuumTtl?: string;
  continuumThreshold?: string;
  port: string;
  dp: string;
  host: string;
  persona: string;
  gpuMemoryUtilization?: string;
  maxModelLen?: string;
  maxNumSeqs?: string;
  maxNumBatchedTokens?: string;
  versionString: string;
  metricsNames: string;
  faultRate?: string;
  seed: string;
  topology?: string;
  apiKey?: string[];
  enablePromptTokensDetails?: boolean;
  maxBodyMb: string;
}

function num(v: string | undefined, flag: string, o: { int?: boolean; min?: number; max?: number } = {}) {
  if (v === undefined) return undefined;
  const n = Number(v);
  const bad =
    v.trim() === '' ||
    !Number.isFinite(n) ||
    (o.int && !Number.isInteger(n)) ||
    (o.min !== undefined && n < o.min) ||
    (o.max !== undefined && n > o.max);
  if (bad) {
    const range = [o.min !== undefined ? `>= ${o.min}` : '', o.max !== undefined ? `<= ${o.max}` : '']
      .filter(Boolean)
      .join(' and ');
    throw new ServelabError(
      'BAD_FLAG',
      `${flag} "${v}" is not ${o.int ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`,
    );
  }
  return n;
}

export function loadTopologyFile(path: string, cwd: string): Topology {
  const full = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (e) {
    throw new ServelabError('BAD_FILE', `cannot read topology file ${path}: ${(e as Error).message}`, {
      hint: 'give --topology the path of a YAML/JSON file like examples/w1-topology.yaml',
    });
  }
  const r = parseTopology(text);
  if (!r.ok) {
    const lines = r.issues.map(
      (i) => `${path}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`,
    );
    throw new ServelabError('BAD_CONFIG', `invalid topology file\n  ${lines.join('\n  ')}`, {
      hint: 'see examples/w1-topology.yaml for the format',
    });
  }
  const clashes = portClashes(r.topology);
  if (clashes.length > 0) {
    throw new ServelabError('BAD_CONFIG', `${path}: ${clashes.join('; ')}`, {
      hint: 'give every replica its own port',
    });
  }
  return r.topology;
}

/** the --continuum-* flags given (each names its option) */
function continuumFlagsGiven(f: SimFlags): string[] {
  const given: [string, unknown][] = [
    ['--continuum-parser', f.continuumParser],
    ['--continuum-ttl-rule', f.continuumTtlRule],
    ['--continuum-ttl', f.continuumTtl],
    ['--continuum-threshold', f.continuumThreshold],
  ];
  return given.filter(([, v]) => v !== undefined).map(([k]) => k);
}

/** --scheduling-policy (vLLM's flag; continuum: the Continuum fork) and the continuum settings */
export function policyFromFlags(f: SimFlags): Pick<SimServerSpec, 'schedulingPolicy' | 'continuum'> {
  const policy = f.schedulingPolicy;
  if (policy !== undefined && !isPolicyName(policy)) {
    throw new ServelabError(
      'BAD_FLAG',
      `--scheduling-policy "${policy}" is not one of ${POLICY_NAMES.join(', ')}`,
      {
        hint: "fcfs is vLLM's default; priority orders by the requests' \"priority\" field; continuum is the Continuum fork's KV time-to-live",
      },
    );
  }
  const given = continuumFlagsGiven(f);
  if (given.length > 0 && policy !== 'continuum') {
    throw new ServelabError('BAD_FLAG', `${given.join(', ')} need --scheduling-policy continuum`, {
      hint: 'add --scheduling-policy continuum, or drop the --continuum-* flags',
    });
  }
  if (policy === undefined) return {};
  if (policy !== 'continuum') return { schedulingPolicy: policy };
  const c: ContinuumOptions = {};
  const parser = f.continuumParser;
  if (parser !== undefined) {
    if (!Object.hasOwn(CONTINUUM_PARSERS, parser)) {
      throw new ServelabError('BAD_FLAG', `--continuum-parser "${parser}" is not one of hermes, bash-only`, {
        hint: 'hermes: the fork after 2026-01-13 (reads <tool_call> blocks); bash-only: before it (pins nothing for hermes tool calls)',
      });
    }
    c.parser = CONTINUUM_PARSERS[parser as keyof typeof CONTINUUM_PARSERS];
  }
  const rule = f.continuumTtlRule;
  if (rule !== undefined) {
    if (rule !== 'public' && rule !== 'paper') {
      throw new ServelabError('BAD_FLAG', `--continuum-ttl-rule "${rule}" is not one of public, paper`, {
        hint: "public: the released code's rule (pin 2 s when the tool's mean time is <= 2 s); paper: reload cost versus queueing delay",
      });
    }
    c.ttlRule = rule;
  }
  const ttl = num(f.continuumTtl, '--continuum-ttl', { min: 0, max: 86_400 });
  if (ttl !== undefined) c.ttlS = ttl;
  const threshold = num(f.continuumThreshold, '--continuum-threshold', { min: 0, max: 86_400 });
  if (threshold !== undefined) c.thresholdS = threshold;
  return { schedulingPolicy: 'continuum', continuum: c };
}

/**
 * The Continuum fork's shutdown dump (Continuum_Recorder.print_history): JSON (indent 2) to
 * $RUN_OUTPUT_DIR/scheduler_timestamps (default ./continuum_exp), written to a .tmp file and
 * renamed. One file per continuum engine: the first is `scheduler_timestamps`, further replicas
 * get `scheduler_timestamps.<replica>` (the fork's DP engines would overwrite one file).
 */
export function writeSchedulerTimestamps(
  docs: readonly SchedulerTimestampsDoc[],
  env: Record<string, string | undefined>,
  cwd: string,
): string[] {
  if (docs.length === 0) return [];
  const dir = resolve(cwd, env.RUN_OUTPUT_DIR || './continuum_exp');
  mkdirSync(dir, { recursive: true });
  return docs.map((d, i) => {
    const final = join(dir, i === 0 ? 'scheduler_timestamps' : `scheduler_timestamps.${d.replica}`);
    writeFileSync(`${final}.tmp`, JSON.stringify(d.doc, null, 2));
    renameSync(`${final}.tmp`, final);
    return final;
  });
}

function fromFlags(f: SimFlags): SimServerSpec {
  if (!f.model) {
    throw new ServelabError('BAD_FLAG', 'servelab sim needs --model <name> or --topology <file>', {
      hint: 'e.g. servelab sim --model meta-llama/Llama-3.1-8B-Instruct --gpu H100-SXM-80GB',
    });
  }
  if (!(PERSONAS as readonly string[]).includes(f.persona)) {
    throw new ServelabError('BAD_FLAG', `--persona "${f.persona}" is not one of ${PERSONAS.join(', ')}`);
  }
  if (f.tp !== undefined && f.tensorParallelSize !== undefined && f.tp !== f.tensorParallelSize) {
    throw new ServelabError(
      'BAD_FLAG',
      `--tp ${f.tp} and --tensor-parallel-size ${f.tensorParallelSize} disagree`,
      {
        hint: 'give one of them',
      },
    );
  }
  const kv = f.kvCacheDtype;
  if (kv !== undefined && !SIM_KV_DTYPES.includes(kv)) {
    throw new ServelabError('BAD_FLAG', `--kv-cache-dtype "${kv}" is not one of ${SIM_KV_DTYPES.join(', ')}`);
  }
  return {
    model: f.model,
    servedModelName: f.servedModelName,
    gpu: f.gpu,
    tp: num(f.tp ?? f.tensorParallelSize, f.tp !== undefined ? '--tp' : '--tensor-parallel-size', {
      int: true,
      min: 1,
    }),
    pp: num(f.pipelineParallelSize, '--pipeline-parallel-size', { int: true, min: 1 }),
    ...(kv !== undefined && kv !== 'auto' ? { kvCacheDtype: 'fp8' as const } : {}),
    ...(f.enablePrefixCaching !== undefined ? { enablePrefixCaching: f.enablePrefixCaching } : {}),
    blockSize: num(f.blockSize, '--block-size', { int: true, min: 1, max: 1024 }),
    ...policyFromFlags(f),
    dp: num(f.dp, '--dp', { int: true, min: 1, max: 64 }),
    port: num(f.port, '--port', { int: true, min: 0, max: 65535 }),
    persona: f.persona as PersonaName,
    gpuMemoryUtilization: num(f.gpuMemoryUtilization, '--gpu-memory-utilization', { min: 0.01, max: 1 }),
    maxModelLen: num(f.maxModelLen, '--max-model-len', { int: true, min: 16 }),
    maxNumSeqs: num(f.maxNumSeqs, '--max-num-seqs', { int: true, min: 1 }),
    maxNumBatchedTokens: num(f.maxNumBatchedTokens, '--max-num-batched-tokens', { int: true, min: 1 }),
  };
}

/**
 * vLLM's start-up line `non-default args: {...}`: every flag given on the command line, with
 * its value, --api-key included (vLLM prints it too; servelab scrubs it from the logs it keeps).
 */
/** vLLM's --kv-cache-dtype values; the simulator models auto as the model's bf16, every fp8 as 1 byte. */
const SIM_KV_DTYPES = ['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2'];

/**
 * vLLM flags `servelab sim` accepts so that one recipe's argv runs on vLLM and on the simulator,
 * but does not model: each given one is listed at start-up as "not modelled" (never dropped
 * silently). --enable-chunked-prefill is modelled (the simulator always chunks); its negation
 * and --max-num-partial-prefills are not.
 */
const NOT_MODELLED_FLAGS: readonly [flag: string, arg: string | undefined, help: string][] = [
  [
    '--data-parallel-size',
    '<n>',
    "vLLM's internal DP behind one port (the simulator's DP is --dp, a port each)",
  ],
  ['--distributed-executor-backend', '<name>', 'ray | mp (no executor in the simulator)'],
  ['--enable-expert-parallel', undefined, 'expert parallelism for MoE layers'],
  ['--all2all-backend', '<name>', 'the MoE all-to-all kernels'],
  ['--enable-eplb', undefined, 'expert-parallel load balancing'],
  ['--eplb-config', '<json>', 'EPLB settings'],
  ['--num-redundant-experts', '<n>', 'EPLB redundant experts (vLLM < 0.11)'],
  ['--max-num-partial-prefills', '<n>', 'concurrent partial prefills'],
  ['--quantization', '<method>', 'weight quantization method'],
  ['--speculative-config', '<json>', 'speculative decoding'],
  ['--enable-auto-tool-choice', undefined, 'tool calls follow the persona'],
  ['--tool-call-parser', '<name>', 'tool-call parser (the persona decides the format)'],
  ['--chat-template', '<file>', 'chat template'],
];

function optName(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The vLLM flags given that the simulator accepts without modelling, as `--flag value` words. */
export function notModelledFlags(cmd: Command): string[] {
  const out: string[] = [];
  const opts = cmd.opts();
  for (const [flag, arg] of NOT_MODELLED_FLAGS) {
    const v = opts[optName(flag)];
    if (v === undefined) continue;
    out.push(arg === undefined ? flag : `${flag} ${String(v)}`);
  }
  if (opts.enableChunkedPrefill === false) out.push('--no-enable-chunked-prefill');
  return out;
}

function nonDefaultArgs(cmd: Command): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(cmd.opts())) {
    if (cmd.getOptionValueSource(k) !== 'cli') continue;
    const name = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const py = (x: unknown) => (typeof x === 'string' ? `'${x}'` : String(x));
    parts.push(`'${name}': ${Array.isArray(v) ? `[${v.map(py).join(', ')}]` : py(v)}`);
  }
  return `non-default args: {${parts.join(', ')}}`;
}

async function simAction(f: SimFlags, ctx: CommandContext, cmd: Command): Promise<number> {
  const io = ctx.io;
  // vLLM: --api-key wins over VLLM_API_KEY; empty keys are dropped
  const apiKeys = (f.apiKey ?? [io.env.VLLM_API_KEY ?? '']).filter((k) => k.length > 0);
  io.secrets?.addAll(apiKeys);
  io.stderr(`${nonDefaultArgs(cmd)}\n`);
  const notModelled = notModelledFlags(cmd);
  if (notModelled.length > 0)
    io.stderr(`servelab sim: not modelled (accepted, no effect): ${notModelled.join(', ')}\n`);
  if (f.metricsNames !== 'v0' && f.metricsNames !== 'v1') {
    throw new ServelabError('BAD_FLAG', `--metrics-names "${f.metricsNames}" must be v0 or v1`);
  }
  let faultRates: FaultRate[] = [];
  if (f.faultRate) {
    try {
      faultRates = parseFaultRates(f.faultRate);
    } catch (e) {
      throw new ServelabError('BAD_FLAG', `--fault-rate: ${(e as Error).message}`, {
        hint: 'e.g. --fault-rate 429=0.01,stream_cut;3=0.005',
      });
    }
  }
  let seed = num(f.seed, '--seed', { int: true, min: 0 })!;
  let host = f.host;
  const routerPlan = planRouter(f, f);
  let servers: SimServerSpec[];
  if (f.topology) {
    if (f.model)
      throw new ServelabError('BAD_FLAG', '--topology and --model exclude each other', { hint: 'use one' });
    const perServer = [
      ...(f.schedulingPolicy !== undefined ? ['--scheduling-policy'] : []),
      ...continuumFlagsGiven(f),
    ];
    if (perServer.length > 0)
      throw new ServelabError('BAD_FLAG', `${perServer.join(', ')} and --topology exclude each other`, {
        hint: 'set scheduling_policy (and continuum: {parser, ttl_rule, ...}) per server in the topology file',
      });
    const t = loadTopologyFile(f.topology, io.cwd);
    servers = t.servers;
    if (t.host) host = t.host;
    if (t.seed !== undefined) seed = t.seed;
  } else servers = routerPlan?.backends ? [] : [fromFlags(f)];
  if (io.signal.aborted) return EXIT.interrupted;
  const routerPort = num(f.port, '--port', { int: true, min: 0, max: 65535 })!;
  if (routerPlan?.backends) {
    // the router alone, in front of servers already running (a real vLLM, or `servelab sim`)
    const r = await startPlannedRouter(routerPlan, routerPlan.backends, { host, port: routerPort }, io);
    await new Promise<void>((res) => {
      if (io.signal.aborted) res();
      else io.signal.addEventListener('abort', () => res(), { once: true });
    });
    await r.close();
    io.stderr('servelab sim: router stopped\n');
    return EXIT.ok;
  }
  // behind a router the engines take free ports; --port is the router's
  if (routerPlan) servers = servers.map((s) => ({ ...s, port: 0 }));
  const sim = await startSimServers({
    servers,
    host,
    seed,
    versionString: f.versionString,
    metricsNames: f.metricsNames,
    enablePromptTokensDetails: f.enablePromptTokensDetails === true,
    maxBodyBytes: Math.round(num(f.maxBodyMb, '--max-body-mb', { min: 0.001, max: 1024 })! * 1024 * 1024),
    faultRates,
    log: (line) => io.stderr(`${line}\n`),
    ...(apiKeys.length > 0 ? { apiKeys } : {}),
  });
  for (const e of sim.endpoints) io.stdout(`${e.model}\t${e.url}\n`);
  const router = routerPlan
    ? await startPlannedRouter(
        routerPlan,
        sim.endpoints.map((e) => e.url),
        { host, port: routerPort },
        io,
      ).catch(async (e: unknown) => {
        await sim.close();
        throw e;
      })
    : undefined;
  io.stderr(`servelab sim: ${sim.endpoints.length} server(s) up; Ctrl-C stops them\n`);
  await new Promise<void>((res) => {
    if (io.signal.aborted) res();
    else io.signal.addEventListener('abort', () => res(), { once: true });
  });
  // the Continuum fork dumps its scheduler_timestamps at shutdown
  let code: number = EXIT.ok;
  try {
    for (const path of writeSchedulerTimestamps(sim.schedulerTimestamps(), io.env, io.cwd))
      io.stderr(`servelab sim: wrote ${path}\n`);
  } catch (e) {
    io.stderr(
      `servelab sim: could not write scheduler_timestamps: ${(e as Error).message} (check RUN_OUTPUT_DIR)\n`,
    );
    code = EXIT.failed;
  }
  await router?.close();
  await sim.close();
  io.stderr('servelab sim: stopped\n');
  return code;
}

export function registerSim(program: Command, ctx: CommandContext): void {
  const sim = program
    .command('sim')
    .description('start simulated vLLM servers (OpenAI API + /metrics) until Ctrl-C')
    .option('--model <name>', `model: ${MODELS.map((m) => m.name).join(', ')} (or one of their HF ids)`)
    .option('--served-model-name <name>', 'the name clients send as "model" (default: --model)')
    .option('--gpu <name>', `GPU profile: ${GPUS.map((g) => g.name).join(', ')}; default H100-SXM-80GB`)
    .option('--tp <n>', 'tensor-parallel GPUs per replica')
    .option('--tensor-parallel-size <n>', "vLLM's name of --tp")
    .option(
      '--pipeline-parallel-size <n>',
      'pipeline stages: each GPU holds 1/PP of the layers and their KV cache',
    )
    .option(
      '--kv-cache-dtype <dtype>',
      `KV cache dtype: ${SIM_KV_DTYPES.join(' | ')} (fp8: 1 byte per value)`,
    )
    .option('--enable-prefix-caching', 'prefix caching (on by default, as in vLLM V1)')
    .option('--no-enable-prefix-caching', 'no prefix caching')
    .option('--enable-chunked-prefill', 'chunked prefill (always on in the simulator, as in vLLM V1)')
    .option('--no-enable-chunked-prefill', 'accepted; not modelled (the simulator always chunks)')
    .option('--block-size <n>', 'KV block size in tokens (default 16)')
    .option(
      '--scheduling-policy <policy>',
      'fcfs | priority (requests\' "priority" field) | continuum (the Continuum fork\'s KV time-to-live; writes $RUN_OUTPUT_DIR/scheduler_timestamps on exit)',
    )
    .option(
      '--continuum-parser <name>',
      'continuum: tool-call parser, hermes (default) | bash-only (the fork before 2026-01-13)',
    )
    .option(
      '--continuum-ttl-rule <rule>',
      "continuum: public (default, the released code's 2 s rule) | paper",
    )
    .option('--continuum-ttl <s>', 'continuum, public rule: pin length in seconds (default 2)')
    .option(
      '--continuum-threshold <s>',
      "continuum, public rule: pin only when the tool's mean time is <= this (default 2)",
    )
    .option('--port <n>', 'port of the first replica (0 = any free port)', '8000')
    .option('--dp <n>', 'data-parallel replicas on consecutive ports', '1')
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--persona <name>', `what the model says: ${PERSONAS.join(' | ')}`, 'plain')
    .option('--gpu-memory-utilization <frac>', 'fraction of GPU memory vLLM may use (default 0.9)')
    .option('--max-model-len <n>', 'context length (default: the model maximum that fits)')
    .option('--max-num-seqs <n>', 'max running requests per step')
    .option('--max-num-batched-tokens <n>', 'token budget per step')
    .option('--version-string <v>', 'what GET /version answers', '0.11.0')
    .option('--metrics-names <v0|v1>', 'metric names on /metrics (v0: pre-0.11 names)', 'v1')
    .option(
      '--fault-rate <list>',
      `inject faults by rate: kind[;param]=rate,... with kinds ${FAULT_KINDS.join(', ')} (the same as header ${FAULT_HEADER}; README, "Simulated vLLM servers")`,
    )
    .option('--seed <n>', 'seed of personas and fault draws', '0')
    .option(
      '--enable-prompt-tokens-details',
      "send usage.prompt_tokens_details.cached_tokens, as vLLM's flag of that name does",
    )
    .option('--max-body-mb <n>', 'largest request body in MiB; larger ones get 413 (vLLM sets no limit)', '8')
    .option(
      '--topology <file>',
      'YAML/JSON file describing a whole set of servers (examples/w1-topology.yaml)',
    )
    .option(
      '--api-key <keys...>',
      'require `Authorization: Bearer KEY` on /v1 routes, as vLLM does (default: $VLLM_API_KEY)',
    )
    .action(async (flags: SimFlags, cmd: Command) => {
      ctx.setExit(await simAction(flags, ctx, cmd));
    });
  for (const [flag, arg, help] of NOT_MODELLED_FLAGS)
    sim.option(arg === undefined ? flag : `${flag} ${arg}`, `vLLM's flag, accepted; not modelled: ${help}`);
  addRouterOptions(sim);
}

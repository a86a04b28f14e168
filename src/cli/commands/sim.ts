/**
 * `servelab sim`: start simulated vLLM servers (one model, DP replicas on consecutive ports, or a
 * whole topology file) and serve until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, ServelabError } from '../../errors.js';
import { GPUS } from '../../knowledge/gpus.js';
import { MODELS } from '../../knowledge/models.js';
import { FAULT_HEADER, FAULT_KINDS, type FaultRate, parseFaultRates } from '../../sim/faults.js';
import { PERSONAS, type PersonaName } from '../../sim/persona.js';
import { type SimServerSpec, startSimServers } from '../../sim/server/index.js';
import { parseTopology, portClashes, type Topology } from '../../sim/server/topology.js';
import type { CommandContext } from './index.js';
import { addRouterOptions, planRouter, type RouterFlags, startPlannedRouter } from './sim-router.js';

interface SimFlags extends RouterFlags {
  model?: string;
  servedModelName?: string;
  gpu?: string;
  tp?: string;
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

function fromFlags(f: SimFlags): SimServerSpec {
  if (!f.model) {
    throw new ServelabError('BAD_FLAG', 'servelab sim needs --model <name> or --topology <file>', {
      hint: 'e.g. servelab sim --model meta-llama/Llama-3.1-8B-Instruct --gpu H100-SXM-80GB',
    });
  }
  if (!(PERSONAS as readonly string[]).includes(f.persona)) {
    throw new ServelabError('BAD_FLAG', `--persona "${f.persona}" is not one of ${PERSONAS.join(', ')}`);
  }
  return {
    model: f.model,
    servedModelName: f.servedModelName,
    gpu: f.gpu,
    tp: num(f.tp, '--tp', { int: true, min: 1 }),
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
  await router?.close();
  await sim.close();
  io.stderr('servelab sim: stopped\n');
  return EXIT.ok;
}

export function registerSim(program: Command, ctx: CommandContext): void {
  const sim = program
    .command('sim')
    .description('start simulated vLLM servers (OpenAI API + /metrics) until Ctrl-C')
    .option('--model <name>', `model: ${MODELS.map((m) => m.name).join(', ')} (or one of their HF ids)`)
    .option('--served-model-name <name>', 'the name clients send as "model" (default: --model)')
    .option('--gpu <name>', `GPU profile: ${GPUS.map((g) => g.name).join(', ')}; default H100-SXM-80GB`)
    .option('--tp <n>', 'tensor-parallel GPUs per replica')
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
  addRouterOptions(sim);
}

/**
 * Library entry of the simulated vLLM servers: start one engine + HTTP front per replica (DP
 * replicas on consecutive ports, or each on a free port with port 0), all on one real-time clock.
 *
 *   const sim = await startSimServers({ servers: [{ model: 'meta-llama/Llama-3.1-8B-Instruct', port: 0 }] });
 *   sim.endpoints[0].url  // http://127.0.0.1:<port>
 *   await sim.close();
 *
 * Wire extensions of the simulator (a real vLLM accepts and ignores the request ones):
 * - request body `servelab_directive: {output_tokens?, tool_calls?: [{name, arguments}],
 *   finish_reason?}`: produce exactly this (trace replay). output_tokens counts the whole
 *   completion, tool calls included (if the tool calls alone are longer, their length wins);
 *   finish_reason replaces the reported one ("length" also makes the engine run to max_tokens).
 * - request header `x-servelab-fault: <kind>[;param]`: inject a fault (src/sim/faults.ts).
 * - request header `x-servelab-timing: 1`: the response gets a top-level
 *   `servelab: {arrival_ms, first_token_ms}` in the final usage chunk of a stream (only with
 *   include_usage) and in a non-streamed body: when the server received the request and when
 *   the engine step that emitted the first token ended, absolute ms on performance.timeOrigin +
 *   performance.now() of the server process (first_token_ms is null when no token was produced).
 *   For timing-truth checks against the client's own TTFT. Without the header, nothing vLLM 0.11
 *   would not send (src/sim/server/chunks.ts).
 * - `usage.prompt_tokens_details.cached_tokens` only with enablePromptTokensDetails
 *   (`servelab sim --enable-prompt-tokens-details`, vLLM's flag of that name), and only when
 *   tokens were cached, as vLLM does.
 * - request bodies over maxBodyBytes (default 8 MiB) get 413 before they are buffered.
 * - /metrics: `servelab_sim_extra_fields_total{field}` counts top-level request fields vLLM does
 *   not know (program_id, job_id, is_last_step, ...), `servelab_sim_faults_injected_total{kind}`.
 * - schedulingPolicy `continuum` (the Continuum fork): job_id / is_last_step / this_func_call /
 *   last_func_call are read (typed as the fork does), pins on /metrics as `servelab:kv_pin*`,
 *   and `schedulerTimestamps()` gives the fork's scheduler_timestamps (servelab sim writes them
 *   on exit). `priority` is read under every policy (vLLM's int field).
 */
import { ServelabError } from '../../errors.js';
import type { KvDtype } from '../../knowledge/models.js';
import { RealClock } from '../clock.js';
import { createEngine } from '../engine.js';
import type { Clock, Engine, StepInfo } from '../engine-api.js';
import type { FaultRate } from '../faults.js';
import type { PersonaName } from '../persona.js';
import type { ContinuumOptions, PolicyName, SchedulerTimestamps } from '../policy/index.js';
import { SimService } from '../service.js';
import { type HttpFront, listenHttpFront } from './http-front.js';
import type { MetricsNames } from './metrics-page.js';
import { type LatenessRecorder, measuredClock } from './real-clock.js';

export type { MetricsNames } from './metrics-page.js';

/** One model served by `dp` replicas. */
export interface SimServerSpec {
  /** model id (a profile in src/knowledge) */
  model: string;
  /** the name clients send as `model` (vLLM --served-model-name); defaults to model */
  servedModelName?: string;
  gpu?: string;
  tp?: number;
  /** vLLM --pipeline-parallel-size (KV capacity per stage) */
  pp?: number;
  /** vLLM --kv-cache-dtype as the simulator models it */
  kvCacheDtype?: KvDtype;
  /** vLLM --enable-prefix-caching / --no-enable-prefix-caching (default on) */
  enablePrefixCaching?: boolean;
  /** vLLM --block-size (default 16) */
  blockSize?: number;
  persona?: PersonaName;
  /** data-parallel replicas, one port each (default 1) */
  dp?: number;
  /** first replica's port; 0 = a free port per replica (default 0) */
  port?: number;
  gpuMemoryUtilization?: number;
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  /** multiply every modelled step time (tests: < 1 runs faster than the GPU would) */
  stepTimeScale?: number;
  /** fixed step time in ms instead of the roofline model */
  stepTimeMs?: number;
  /** vLLM's --scheduling-policy (default fcfs; continuum: the Continuum fork) */
  schedulingPolicy?: PolicyName;
  /** the continuum policy's settings (parser, TTL rule) */
  continuum?: ContinuumOptions;
}

/** The GPU profile assumed when a server names none. */
export const DEFAULT_GPU = 'H100-SXM-80GB';

/** What createEngine receives for one replica (src/sim/engine.ts EngineOptions). */
export interface SimEngineOptions {
  model: string;
  gpu: string;
  tp?: number;
  pp?: number;
  kvCacheDtype?: KvDtype;
  enablePrefixCaching?: boolean;
  blockSize?: number;
  gpuMemoryUtilization?: number;
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  stepTimeScale?: number;
  stepTimeMs?: number;
  schedulingPolicy?: PolicyName;
  continuum?: ContinuumOptions;
}

export type EngineFactory = (opts: SimEngineOptions, clock: Clock) => Engine;

/** One replica's engine options from its server's spec: the HTTP and in-process simulators share it. */
export function engineOptionsOf(s: SimServerSpec): SimEngineOptions {
  return {
    model: s.model,
    gpu: s.gpu ?? DEFAULT_GPU,
    tp: s.tp,
    ...(s.pp !== undefined ? { pp: s.pp } : {}),
    ...(s.kvCacheDtype !== undefined ? { kvCacheDtype: s.kvCacheDtype } : {}),
    ...(s.enablePrefixCaching !== undefined ? { enablePrefixCaching: s.enablePrefixCaching } : {}),
    ...(s.blockSize !== undefined ? { blockSize: s.blockSize } : {}),
    gpuMemoryUtilization: s.gpuMemoryUtilization,
    maxModelLen: s.maxModelLen,
    maxNumSeqs: s.maxNumSeqs,
    maxNumBatchedTokens: s.maxNumBatchedTokens,
    stepTimeScale: s.stepTimeScale,
    stepTimeMs: s.stepTimeMs,
    ...(s.schedulingPolicy !== undefined ? { schedulingPolicy: s.schedulingPolicy } : {}),
    ...(s.continuum !== undefined ? { continuum: s.continuum } : {}),
  };
}

export interface StartSimOptions {
  servers: SimServerSpec[];
  /** default 127.0.0.1 */
  host?: string;
  seed?: number;
  /** /version answer (default 0.11.0) */
  versionString?: string;
  metricsNames?: MetricsNames;
  /** vLLM's --api-key: /v1 routes need `Authorization: Bearer` one of these */
  apiKeys?: readonly string[];
  /** vLLM's --enable-prompt-tokens-details (default off, as in vLLM) */
  enablePromptTokensDetails?: boolean;
  /** largest request body in bytes (default 8 MiB, http-front.ts DEFAULT_MAX_BODY_BYTES) */
  maxBodyBytes?: number;
  faultRates?: readonly FaultRate[];
  /** the engine factory (default: src/sim/engine.ts createEngine) */
  createEngine?: EngineFactory;
  /** default: a real-time clock */
  clock?: Clock;
  /** startup lines, vLLM-like */
  log?: (line: string) => void;
  /** warnings (e.g. the simulator fell behind real time); default: log */
  warn?: (line: string) => void;
  /** per-step lateness (actual - intended, ms) of every scheduled event, for benchmarks */
  onLateness?: LatenessRecorder;
  /** per-step facts (benchmarks) */
  onStep?: (replica: number, info: StepInfo) => void;
}

export interface SimEndpoint {
  url: string;
  port: number;
  /** the served model name */
  model: string;
  replica: number;
  service: SimService;
}

/** One continuum engine's `scheduler_timestamps` document (the Continuum fork's recorder). */
export interface SchedulerTimestampsDoc {
  model: string;
  replica: number;
  /** per job id, its events in Unix seconds (time.time() in the fork) */
  doc: SchedulerTimestamps;
}

export interface SimServers {
  endpoints: SimEndpoint[];
  /** the scheduler_timestamps of every engine running the continuum policy, now */
  schedulerTimestamps(): SchedulerTimestampsDoc[];
  close(): Promise<void>;
}

/** the engines of this package have it (src/sim/engine.ts SimEngine); a test's toy engine may not */
function timestampsOf(engine: Engine, epochOffsetMs: number): SchedulerTimestamps | undefined {
  const f = (engine as { schedulerTimestamps?: (o: number) => SchedulerTimestamps | undefined })
    .schedulerTimestamps;
  return typeof f === 'function' ? f.call(engine, epochOffsetMs) : undefined;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export async function startSimServers(opts: StartSimOptions): Promise<SimServers> {
  const create: EngineFactory = opts.createEngine ?? ((o, clock) => createEngine(o, clock));
  const base = opts.clock ?? new RealClock();
  const clock = opts.onLateness ? measuredClock(base, opts.onLateness) : base;
  const toAbs = (() => {
    const offset = performance.timeOrigin + performance.now() - base.nowMs();
    return (ms: number) => ms + offset;
  })();
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? log;
  const fronts: HttpFront[] = [];
  const endpoints: SimEndpoint[] = [];
  const startedMs = performance.now();
  const close = async () => {
    // worth a warning when the lag is a visible share of the run (> 1 %, at least 0.1 s):
    // a few tens of ms over a long run are scheduling noise of a shared host
    const livedS = (performance.now() - startedMs) / 1000;
    const behind = endpoints
      .map((e) => ({ e, lagS: e.service.engine.realTimeLagMs / 1000 }))
      .filter((x) => x.lagS >= Math.max(0.1, 0.01 * livedS));
    if (behind.length > 0) {
      const worst = behind.reduce((a, b) => (b.lagS > a.lagS ? b : a));
      warn(
        `warning: ${behind.length} simulated server(s) fell behind their modelled step times ` +
          `(worst: ${worst.e.model} replica ${worst.e.replica}, ${worst.lagS.toFixed(2)} s in ${livedS.toFixed(0)} s): ` +
          'this host could not keep up in real time, and latencies measured against them include that lag. ' +
          'Use fewer streams, a faster host, or virtual time.',
      );
    }
    await Promise.all(fronts.map((f) => f.close()));
    // closing the sockets aborted every request; a clock we made must not keep the process alive
    if (!opts.clock && base instanceof RealClock) base.stop();
  };
  let replica = 0;
  try {
    for (const s of opts.servers) {
      const dp = s.dp ?? 1;
      for (let i = 0; i < dp; i++) {
        const engine = create(engineOptionsOf(s), clock);
        const r = replica++;
        if (opts.onStep) {
          const cb = opts.onStep;
          const prev = engine.onStep;
          engine.onStep = (info) => {
            prev?.(info);
            cb(r, info);
          };
        }
        const service = new SimService({
          engine,
          clock,
          modelName: s.servedModelName ?? s.model,
          persona: s.persona ?? 'plain',
          seed: (opts.seed ?? 0) + r,
          faultRates: opts.faultRates ?? [],
          toAbsoluteMs: toAbs,
          enablePromptTokensDetails: opts.enablePromptTokensDetails ?? false,
        });
        const port = s.port ? s.port + i : 0;
        const host = opts.host ?? '127.0.0.1';
        const front = await listenHttpFront({
          service,
          host,
          port,
          versionString: opts.versionString,
          metricsNames: opts.metricsNames,
          ...(opts.apiKeys ? { apiKeys: opts.apiKeys } : {}),
          ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
          root: s.model,
        }).catch((e: NodeJS.ErrnoException) => {
          const why =
            e.code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${e.code ?? e.message})`;
          throw new ServelabError(
            'LAUNCH_FAILED',
            `${service.modelName} replica ${i}: port ${port} on ${host} ${why}`,
            {
              hint: 'stop whatever listens there, or pick another port (--port, or port: in the topology file)',
              cause: e,
            },
          );
        });
        fronts.push(front);
        const cfg = engine.config;
        log(
          `[${service.modelName} dp${i}] ${cfg.gpu} x${cfg.tp}, ${cfg.numGpuBlocks} blocks of ${cfg.blockSize}: ` +
            `GPU KV cache size: ${fmtInt(cfg.kvCapacityTokens)} tokens`,
        );
        log(
          `[${service.modelName} dp${i}] Maximum concurrency for ${fmtInt(cfg.maxModelLen)} tokens per request: ` +
            `${(cfg.kvCapacityTokens / cfg.maxModelLen).toFixed(2)}x`,
        );
        log(
          `[${service.modelName} dp${i}] Starting vLLM API server on ${front.url} (persona ${service.persona})`,
        );
        endpoints.push({ url: front.url, port: front.port, model: service.modelName, replica: r, service });
      }
    }
  } catch (e) {
    await close();
    throw e;
  }
  const schedulerTimestamps = (): SchedulerTimestampsDoc[] => {
    const out: SchedulerTimestampsDoc[] = [];
    for (const e of endpoints) {
      // engine ms -> Unix ms: toAbs is performance.timeOrigin-based, as time.time() is
      const doc = timestampsOf(e.service.engine, toAbs(0));
      if (doc) out.push({ model: e.model, replica: e.replica, doc });
    }
    return out;
  };
  return { endpoints, schedulerTimestamps, close };
}

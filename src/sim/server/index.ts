/**
 * Library entry of the simulated vLLM servers: start one engine + HTTP front per replica (DP
 * replicas on consecutive ports, or each on a free port with port 0), all on one real-time clock.
 *
 *   const sim = await startSimServers({ servers: [{ model: 'meta-llama/Llama-3.1-8B-Instruct', port: 0 }] });
 *   sim.endpoints[0].url  // http://127.0.0.1:<port>
 *   await sim.close();
 */
import type { Clock, Engine, StepInfo } from '../engine-api.js';
import type { FaultRate } from '../faults.js';
import type { PersonaName } from '../persona.js';
import { SimService } from '../service.js';
import { type HttpFront, listenHttpFront } from './http-front.js';
import type { MetricsNames } from './metrics-page.js';
import { type LatenessRecorder, measuredClock, realTimeClock } from './real-clock.js';

export type { MetricsNames } from './metrics-page.js';

/** One model served by `dp` replicas. */
export interface SimServerSpec {
  /** model id (a profile in src/knowledge) */
  model: string;
  /** the name clients send as `model` (vLLM --served-model-name); defaults to model */
  servedModelName?: string;
  gpu?: string;
  tp?: number;
  persona?: PersonaName;
  /** data-parallel replicas, one port each (default 1) */
  dp?: number;
  /** first replica's port; 0 = a free port per replica (default 0) */
  port?: number;
  gpuMemoryUtilization?: number;
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
}

/** What createEngine receives for one replica. */
export interface SimEngineOptions {
  model: string;
  gpu?: string;
  tp?: number;
  gpuMemoryUtilization?: number;
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
}

export type EngineFactory = (opts: SimEngineOptions, clock: Clock) => Engine;

export interface StartSimOptions {
  servers: SimServerSpec[];
  /** default 127.0.0.1 */
  host?: string;
  seed?: number;
  /** /version answer (default 0.11.0) */
  versionString?: string;
  metricsNames?: MetricsNames;
  faultRates?: readonly FaultRate[];
  /** the engine factory (default: src/sim/engine.ts createEngine) */
  createEngine?: EngineFactory;
  /** default: a real-time clock */
  clock?: Clock;
  /** startup lines, vLLM-like */
  log?: (line: string) => void;
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

export interface SimServers {
  endpoints: SimEndpoint[];
  close(): Promise<void>;
}

async function defaultEngineFactory(): Promise<EngineFactory> {
  // resolved at run time so this module builds before the engine does
  const path = '../engine.js';
  const mod = (await import(path)) as { createEngine?: EngineFactory };
  if (typeof mod.createEngine !== 'function')
    throw new Error('src/sim/engine.ts does not export createEngine');
  return mod.createEngine;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export async function startSimServers(opts: StartSimOptions): Promise<SimServers> {
  const create = opts.createEngine ?? (await defaultEngineFactory());
  const base = opts.clock ?? realTimeClock();
  const clock = opts.onLateness ? measuredClock(base, opts.onLateness) : base;
  const toAbs = (() => {
    const offset = performance.timeOrigin + performance.now() - base.nowMs();
    return (ms: number) => ms + offset;
  })();
  const log = opts.log ?? (() => {});
  const fronts: HttpFront[] = [];
  const endpoints: SimEndpoint[] = [];
  const close = async () => {
    await Promise.all(fronts.map((f) => f.close()));
  };
  let replica = 0;
  try {
    for (const s of opts.servers) {
      const dp = s.dp ?? 1;
      for (let i = 0; i < dp; i++) {
        const engine = create(
          {
            model: s.model,
            gpu: s.gpu,
            tp: s.tp,
            gpuMemoryUtilization: s.gpuMemoryUtilization,
            maxModelLen: s.maxModelLen,
            maxNumSeqs: s.maxNumSeqs,
            maxNumBatchedTokens: s.maxNumBatchedTokens,
          },
          clock,
        );
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
        });
        const port = s.port ? s.port + i : 0;
        const front = await listenHttpFront({
          service,
          host: opts.host ?? '127.0.0.1',
          port,
          versionString: opts.versionString,
          metricsNames: opts.metricsNames,
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
  return { endpoints, close };
}

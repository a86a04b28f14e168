/**
 * `kind: sim` in virtual time (`servelab simulate`, `run --virtual`): the same simulated engines
 * and SimService as over HTTP, in-process on ONE virtual clock shared by every server of the
 * cell and by the agent programs (tool latencies, think times, back-off, samples are events on
 * it). No sockets: calls go through loadgen/sim-transport.ts, /metrics pages are rendered in
 * place. The clock starts at the wall time of launch, so records look like a real run's.
 */
import { schedulerClock } from '../agent/clock.js';
import type { ServersSpec } from '../config/spec.js';
import { createSimTransport } from '../loadgen/sim-transport.js';
import type { Endpoint } from '../loadgen/transport.js';
import type { FetchText } from '../metrics/fetch.js';
import { VirtualClock } from '../sim/clock.js';
import { createEngine } from '../sim/engine.js';
import { DEFAULT_GPU, type EngineFactory } from '../sim/server/index.js';
import { renderMetrics } from '../sim/server/metrics-page.js';
import { SimService } from '../sim/service.js';
import type { LaunchContext, LaunchedServers, ServerInfo } from './launcher.js';
import { simServersOf } from './topology.js';

/** What /version answers, as the HTTP front does by default. */
const VERSION = '0.11.0';
/** Virtual servers without a port in their topology are numbered from here. */
const FIRST_VIRTUAL_PORT = 20000;

export async function launchSimVirtual(spec: ServersSpec, ctx: LaunchContext): Promise<LaunchedServers> {
  if (spec.kind !== 'sim') throw new Error(`sim-virtual launcher given kind ${spec.kind}`);
  const topo = simServersOf(spec, ctx.baseDir, { topologyPorts: true });
  const clock = new VirtualClock(Date.now());
  const create: EngineFactory = ctx.simOverrides?.createEngine ?? ((o, c) => createEngine(o, c));
  const byOrigin = new Map<string, SimService>();
  const endpoints = new Map<string, Endpoint[]>();
  const servers: ServerInfo[] = [];
  const engines: Record<string, unknown>[] = [];
  let replica = 0;
  let nextPort = FIRST_VIRTUAL_PORT;
  const used = new Set<number>();
  for (const s of topo.servers) {
    const dp = s.dp ?? 1;
    for (let i = 0; i < dp; i++) {
      const engine = create(
        {
          model: s.model,
          gpu: s.gpu ?? DEFAULT_GPU,
          tp: s.tp,
          gpuMemoryUtilization: s.gpuMemoryUtilization,
          maxModelLen: s.maxModelLen,
          maxNumSeqs: s.maxNumSeqs,
          maxNumBatchedTokens: s.maxNumBatchedTokens,
          stepTimeScale: s.stepTimeScale,
          stepTimeMs: s.stepTimeMs,
          ...(s.schedulingPolicy !== undefined ? { schedulingPolicy: s.schedulingPolicy } : {}),
          ...(s.continuum !== undefined ? { continuum: s.continuum } : {}),
        },
        clock,
      );
      const r = replica++;
      const service = new SimService({
        engine,
        clock,
        modelName: s.servedModelName ?? s.model,
        persona: s.persona ?? 'plain',
        seed: ctx.seed + r,
      });
      // the topology's ports name the servers (W1: 1900, 1910-1913); they are labels, nothing listens
      let port = s.port ? s.port + i : 0;
      if (!port || used.has(port)) {
        while (used.has(nextPort)) nextPort++;
        port = nextPort++;
      }
      used.add(port);
      const url = `http://virtual:${port}`;
      byOrigin.set(url, service);
      const ep: Endpoint = { baseUrl: `${url}/v1`, model: service.modelName, label: `virtual:${port}` };
      const list = endpoints.get(ep.model) ?? [];
      list.push(ep);
      endpoints.set(ep.model, list);
      const cfg = engine.config;
      servers.push({
        label: ep.label as string,
        url,
        model: ep.model,
        port,
        flags: { ...s, gpu: s.gpu ?? DEFAULT_GPU, simulated: true, virtual: true },
      });
      engines.push({
        label: ep.label,
        model: ep.model,
        gpu: cfg.gpu,
        tp: cfg.tp,
        numGpuBlocks: cfg.numGpuBlocks,
        blockSize: cfg.blockSize,
        maxModelLen: cfg.maxModelLen,
        maxNumSeqs: cfg.maxNumSeqs,
        maxNumBatchedTokens: cfg.maxNumBatchedTokens,
        schedulingPolicy: (cfg as { schedulingPolicy?: string }).schedulingPolicy ?? 'fcfs',
        ...(s.stepTimeScale !== undefined ? { stepTimeScale: s.stepTimeScale } : {}),
        ...(s.stepTimeMs !== undefined ? { stepTimeMs: s.stepTimeMs } : {}),
        persona: service.persona,
      });
    }
  }
  const origin = (url: string) => {
    const u = new URL(url);
    return { origin: `${u.protocol}//${u.host}`, path: u.pathname };
  };
  const transport = createSimTransport({
    clock,
    services: (e) => byOrigin.get(origin(e.baseUrl).origin),
  });
  const fetchText: FetchText = async (url) => {
    const { origin: o, path } = origin(url);
    const svc = byOrigin.get(o);
    if (!svc) return { ok: false, kind: 'refused', message: `${url}: no virtual server there` };
    if (path === '/metrics') return { ok: true, status: 200, text: renderMetrics(svc, 'v1') };
    if (path === '/version') return { ok: true, status: 200, text: JSON.stringify({ version: VERSION }) };
    if (path === '/health') return { ok: true, status: 200, text: '' };
    return { ok: false, kind: 'http', status: 404, message: `${url}: 404 Not Found`, text: '' };
  };
  return {
    launcher: 'sim-virtual',
    endpoints,
    experts: topo.experts,
    servers,
    clock: schedulerClock(clock),
    transport: () => transport,
    fetchText,
    virtual: {
      drive: (work) => transport.drive(work),
      describe: { clock: 'virtual', engines },
    },
    simulated: true,
    stop: async () => {},
  };
}

/**
 * `kind: sim` in virtual time (`servelab simulate`, `run --virtual`): the same simulated engines
 * and SimService as over HTTP, in-process on ONE virtual clock shared by every server of the
 * cell and by the agent programs (tool latencies, think times, back-off, samples are events on
 * it). No sockets: calls go through loadgen/sim-transport.ts, /metrics pages are rendered in
 * place. The clock starts at the wall time of launch, so records look like a real run's.
 */
import { schedulerClock } from '../agent/clock.js';
import type { ServersSpec, SimRouterSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import { createSimTransport } from '../loadgen/sim-transport.js';
import type { Endpoint } from '../loadgen/transport.js';
import type { FetchText } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { createInProcessRouter, type InProcessRouter } from '../router/in-process.js';
import { VirtualClock } from '../sim/clock.js';
import { createEngine } from '../sim/engine.js';
import type { Engine } from '../sim/engine-api.js';
import { DEFAULT_GPU, type EngineFactory, engineOptionsOf } from '../sim/server/index.js';
import { parsedMetrics, renderMetrics } from '../sim/server/metrics-page.js';
import { SimService } from '../sim/service.js';
import type { LaunchContext, LaunchedServers, ServerInfo } from './launcher.js';
import { simServersOf } from './topology.js';

/** What /version answers, as the HTTP front does by default. */
const VERSION = '0.11.0';
/** Virtual servers without a port in their topology are numbered from here. */
const FIRST_VIRTUAL_PORT = 20000;
/** An in-process router answers on this port (the engines keep the topology's ports). */
export const VIRTUAL_ROUTER_PORT = 19000;

interface Replica {
  url: string;
  ep: Endpoint;
  engine: Engine;
  service: SimService;
}

export async function launchSimVirtual(spec: ServersSpec, ctx: LaunchContext): Promise<LaunchedServers> {
  if (spec.kind !== 'sim') throw new Error(`sim-virtual launcher given kind ${spec.kind}`);
  const topo = simServersOf(spec, ctx.baseDir, { topologyPorts: true });
  const clock = new VirtualClock(Date.now());
  const create: EngineFactory = ctx.simOverrides?.createEngine ?? ((o, c) => createEngine(o, c));
  const byOrigin = new Map<string, SimService>();
  const endpoints = new Map<string, Endpoint[]>();
  const servers: ServerInfo[] = [];
  const engines: Record<string, unknown>[] = [];
  const replicasOf = new Map<number, Replica[]>();
  let replica = 0;
  let nextPort = FIRST_VIRTUAL_PORT;
  const used = new Set<number>();
  for (const [si, s] of topo.servers.entries()) {
    const dp = s.dp ?? 1;
    const mine: Replica[] = [];
    replicasOf.set(si, mine);
    for (let i = 0; i < dp; i++) {
      const engine = create(engineOptionsOf(s), clock);
      const r = replica++;
      const service = new SimService({
        engine,
        clock,
        modelName: s.servedModelName ?? s.model,
        persona: s.persona ?? 'plain',
        seed: ctx.seed + r,
        // in process: the agent re-sends its message objects (each call encodes only new ones)
        sameMessageObjects: true,
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
      mine.push({ url, ep, engine, service });
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
  const simTransport = createSimTransport({
    clock,
    services: (e) => byOrigin.get(origin(e.baseUrl).origin),
  });
  let router: InProcessRouter | undefined;
  let routerUrl: string | undefined;
  let routerBackends: Replica[] = [];
  if (spec.router) {
    const r = spec.router;
    const si = topo.servers.findIndex((x) => (x as { name?: string }).name === r.serves);
    if (si < 0)
      throw new ServelabError(
        'BAD_CONFIG',
        `servers.${ctx.name ?? '<name>'}.router.serves: no topology server named "${r.serves}"`,
        {
          hint: `name one of the topology's servers: ${topo.servers.map((x) => (x as { name?: string }).name ?? `(unnamed ${x.model})`).join(', ')}`,
        },
      );
    routerBackends = replicasOf.get(si) ?? [];
    const model = routerBackends[0]!.ep.model;
    const port = VIRTUAL_ROUTER_PORT;
    routerUrl = `http://virtual:${port}`;
    const routerEp: Endpoint = { baseUrl: `${routerUrl}/v1`, model, label: `virtual:${port}` };
    router = createInProcessRouter({
      clock,
      transport: simTransport,
      endpoint: routerEp,
      backends: routerBackends.map((b) => ({
        id: b.url,
        endpoint: b.ep,
        read: () => ({
          capacityTokens: b.engine.config.numGpuBlocks * b.engine.config.blockSize,
          kvUsageFrac: b.engine.snapshot().kvUsageFrac,
        }),
      })),
      ...routerOptions(r),
    });
    endpoints.set(model, [routerEp]);
    servers.unshift({
      label: routerEp.label as string,
      url: routerUrl,
      model,
      port,
      flags: {
        router: r.mode,
        serves: r.serves,
        backends: routerBackends.map((b) => b.ep.label),
        virtual: true,
      },
    });
  }
  const transport = router ? { ...simTransport, call: router.transport.call } : simTransport;
  const backendPages = () =>
    routerBackends.length === 1
      ? renderMetrics(routerBackends[0]!.service, 'v1')
      : mergePages(routerBackends.map((b) => renderMetrics(b.service, 'v1')));
  const fetchText: FetchText = async (url) => {
    const { origin: o, path } = origin(url);
    if (router && o === routerUrl) {
      // the router's page stands for what is behind it: the KV sampler reads its backends' usage
      if (path === '/metrics') return { ok: true, status: 200, text: backendPages() };
      if (path === '/version') return { ok: true, status: 200, text: JSON.stringify({ version: VERSION }) };
      if (path === '/health' || path === '/programs')
        return { ok: true, status: 200, text: JSON.stringify(router.core.stats()) };
    }
    const svc = byOrigin.get(o);
    if (!svc) return { ok: false, kind: 'refused', message: `${url}: no virtual server there` };
    if (path === '/metrics') return { ok: true, status: 200, text: renderMetrics(svc, 'v1') };
    if (path === '/version') return { ok: true, status: 200, text: JSON.stringify({ version: VERSION }) };
    if (path === '/health') return { ok: true, status: 200, text: '' };
    return { ok: false, kind: 'http', status: 404, message: `${url}: 404 Not Found`, text: '' };
  };
  // the KV sampler's read: each engine's page parsed without its text (metrics-page.ts parsedMetrics)
  fetchText.page = async (url, opts) => {
    const { origin: o, path } = origin(url);
    const svc = byOrigin.get(o);
    if (svc && path === '/metrics' && !(router && o === routerUrl))
      return { ok: true, status: 200, page: parsedMetrics(svc, 'v1') };
    const r = await fetchText(url, opts);
    return r.ok ? { ok: true, status: r.status, page: parsePrometheusText(r.text) } : r;
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
      drive: (work) => simTransport.drive(work),
      describe: describeRun(engines, replicasOf, spec.router, router),
    },
    ...(router
      ? {
          release: async (id: string) => void router.release(id),
          kvTargets: routerBackends.map((b) => ({
            url: b.url,
            port: Number(new URL(b.url).port),
            label: b.ep.label as string,
          })),
        }
      : {}),
    simulated: true,
    stop: async () => router?.stop(),
  };
}

function routerOptions(r: SimRouterSpec) {
  return {
    mode: r.mode,
    placement: r.placement,
    intervalMs: r.intervalMs,
    ...(r.decodeReserveTokens !== undefined ? { decodeReserveTokens: r.decodeReserveTokens } : {}),
    ...(r.pauseAt !== undefined ? { kvPauseAtFrac: r.pauseAt } : {}),
    ...(r.resumeBelow !== undefined ? { kvResumeBelowFrac: r.resumeBelow } : {}),
  };
}

/**
 * What cell.json says about the simulation. `counters` and `router` are read when the run
 * directory writes it (getters), so the file written at the cell's end has the final figures:
 * preemptions, prefix-cache hits, pins per engine; pauses and router queue time.
 */
function describeRun(
  engines: Record<string, unknown>[],
  replicasOf: Map<number, Replica[]>,
  r: SimRouterSpec | undefined,
  router: InProcessRouter | undefined,
): Record<string, unknown> {
  const all = [...replicasOf.values()].flat();
  const out: Record<string, unknown> = { clock: 'virtual', engines };
  Object.defineProperty(out, 'counters', {
    enumerable: true,
    get: () =>
      all.map((x) => {
        const snap = x.engine.snapshot();
        return {
          label: x.ep.label,
          preemptions: snap.counters.preemptions,
          promptTokens: snap.counters.promptTokens,
          generationTokens: snap.counters.generationTokens,
          prefixQueryTokens: snap.counters.prefixQueries,
          prefixHitTokens: snap.counters.prefixHits,
          ...(snap.policy ? { policy: snap.policy } : {}),
        };
      }),
  });
  if (r && router)
    Object.defineProperty(out, 'router', {
      enumerable: true,
      get: () => {
        const st = router.core.stats();
        let queueMs = 0;
        let queued = 0;
        for (const p of router.core.listPrograms()) {
          queueMs += p.queueMsTotal;
          queued += p.queuedCalls;
        }
        return {
          ...r,
          pausesTotal: st.pausesTotal,
          resumesTotal: st.resumesTotal,
          programsHeld: st.programs,
          unscheduledCalls: st.unscheduledCalls,
          // programs still held (not released): their queue time; released ones are in the step records
          heldQueueMs: queueMs,
          heldQueuedCalls: queued,
          backends: st.backends,
        };
      },
    });
  return out;
}

/** Several engines' pages as one (engine="0" .. "n-1"), each metric family's lines together. */
export function mergePages(pages: readonly string[]): string {
  const families = new Map<string, string[]>();
  const order: string[] = [];
  pages.forEach((text, i) => {
    let fam = '';
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const m = /^# (?:HELP|TYPE) (\S+)/.exec(line);
      if (m) {
        fam = m[1]!;
        if (!families.has(fam)) {
          families.set(fam, []);
          order.push(fam);
        }
        if (i === 0) families.get(fam)!.push(line);
        continue;
      }
      families.get(fam)?.push(line.replaceAll('engine="0"', `engine="${i}"`));
    }
  });
  return `${order.flatMap((f) => families.get(f)!).join('\n')}\n`;
}

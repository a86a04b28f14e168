/**
 * `kind: sim` in real time: the simulated engines behind their HTTP fronts (startSimServers),
 * started fresh per cell on one real-time clock; the harness talks to them as to vLLM.
 */
import type { ServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { Endpoint } from '../loadgen/transport.js';
import { type RouterServer, startRouter } from '../router/index.js';
import { DEFAULT_GPU, startSimServers } from '../sim/server/index.js';
import { overHttp } from './external.js';
import type { LaunchContext, LaunchedServers, ServerInfo } from './launcher.js';
import { simServersOf } from './topology.js';

export async function launchSimHttp(spec: ServersSpec, ctx: LaunchContext): Promise<LaunchedServers> {
  if (spec.kind !== 'sim') throw new Error(`sim-http launcher given kind ${spec.kind}`);
  const topo = simServersOf(spec, ctx.baseDir, ctx.topologyPorts ? { topologyPorts: true } : {});
  const simServers = topo.servers;
  const sim = await startSimServers({
    servers: simServers,
    seed: ctx.seed,
    // the simulator's own warnings (it fell behind real time) become notes of the cell
    ...(ctx.onNote ? { warn: ctx.onNote } : {}),
    ...(topo.host ? { host: topo.host } : {}),
    ...ctx.simOverrides,
  }).catch((err: unknown) => {
    if (err instanceof ServelabError && /already in use/.test(err.message)) {
      const where = `servers.${ctx.name ?? '<name>'}.overrides`;
      throw new ServelabError('LAUNCH_FAILED', `${err.message} (another run on this machine?)`, {
        cause: err,
        hint: ctx.topologyPorts
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
    const s = simServers.find((x) => (x.servedModelName ?? x.model) === e.model);
    servers.push({
      label: ep.label as string,
      url: e.url,
      model: e.model,
      port: e.port,
      // the GPU profile it simulated, also when the topology named none (the report states it)
      flags: { ...s, gpu: s?.gpu ?? DEFAULT_GPU, simulated: true },
    });
  }
  let router: RouterServer | undefined;
  let kvTargets: LaunchedServers['kvTargets'];
  if (spec.router) {
    const r = spec.router;
    const served = simServers.find((x) => (x as { name?: string }).name === r.serves);
    if (!served) {
      await sim.close();
      throw new ServelabError(
        'BAD_CONFIG',
        `servers.${ctx.name ?? '<name>'}.router.serves: no topology server named "${r.serves}"`,
        {
          hint: `name one of the topology's servers: ${simServers.map((x) => (x as { name?: string }).name ?? `(unnamed ${x.model})`).join(', ')}`,
        },
      );
    }
    const model = served.servedModelName ?? served.model;
    const backends = servers.filter((s) => s.model === model);
    // the router in real time: an HTTP proxy on a free port in front of the replicas
    router = await startRouter({
      backends: backends.map((b) => b.url),
      ...(topo.host ? { host: topo.host } : {}),
      mode: r.mode,
      placement: r.placement,
      intervalMs: r.intervalMs,
      ...(r.decodeReserveTokens !== undefined ? { decodeReserveTokens: r.decodeReserveTokens } : {}),
      ...(r.pauseAt !== undefined ? { kvPauseAtFrac: r.pauseAt } : {}),
      ...(r.resumeBelow !== undefined ? { kvResumeBelowFrac: r.resumeBelow } : {}),
      ...(ctx.onNote ? { log: ctx.onNote } : {}),
    }).catch(async (err: unknown) => {
      await sim.close();
      throw err;
    });
    const label = `${new URL(router.url).hostname}:${router.port}`;
    endpoints.set(model, [{ baseUrl: `${router.url}/v1`, model, label }]);
    servers.unshift({
      label,
      url: router.url,
      model,
      port: router.port,
      flags: { router: r.mode, serves: r.serves, backends: backends.map((b) => b.label) },
    });
    kvTargets = backends.map((b) => ({ url: b.url, port: b.port, label: b.label }));
  }
  const launched = overHttp(
    'sim-http',
    ctx,
    {
      endpoints,
      experts: topo.experts,
      servers,
      stop: async () => {
        await router?.close();
        await sim.close();
      },
    },
    true,
  );
  return kvTargets ? { ...launched, kvTargets } : launched;
}

/**
 * `kind: sim` in real time: the simulated engines behind their HTTP fronts (startSimServers),
 * started fresh per cell on one real-time clock; the harness talks to them as to vLLM.
 */
import type { ServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { Endpoint } from '../loadgen/transport.js';
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
  return overHttp(
    'sim-http',
    ctx,
    { endpoints, experts: topo.experts, servers, stop: () => sim.close() },
    true,
  );
}

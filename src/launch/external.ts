/** `kind: external`: endpoints that already run (nothing to start, nothing to stop). */
import { resolve } from 'node:path';
import { REAL_CLOCK } from '../agent/clock.js';
import { createHttpTransport } from '../client/index.js';
import { loadModelConfigFile } from '../config/load.js';
import { endpointsOf, type ModelConfig } from '../config/model-config.js';
import type { ServersSpec } from '../config/spec.js';
import type { Endpoint } from '../loadgen/transport.js';
import { fetchTextUndici } from '../metrics/fetch.js';
import type { CellTransport, LaunchContext, LaunchedServers, LauncherKind, ServerInfo } from './launcher.js';

export function readEndpoints(e: string | ModelConfig, baseDir: string): ModelConfig {
  return typeof e === 'string' ? loadModelConfigFile(resolve(baseDir, e)) : e;
}

export function infos(endpoints: Map<string, Endpoint[]>): ServerInfo[] {
  const out: ServerInfo[] = [];
  for (const [model, list] of endpoints) {
    for (const e of list) {
      const url = e.baseUrl.replace(/\/v1\/?$/, '');
      out.push({ label: e.label ?? url, url, model, port: Number(new URL(url).port) });
    }
  }
  return out;
}

/** The HTTP transport of a cell at C (connections for every slot, at least 16). */
export function httpTransportOf(ctx: LaunchContext): (c: number) => CellTransport {
  return ctx.httpTransport ?? ((c) => createHttpTransport({ connections: Math.max(16, c * 2) }));
}

/** What every launcher whose servers speak HTTP in real time shares. */
export function overHttp(
  launcher: LauncherKind,
  ctx: LaunchContext,
  parts: Pick<LaunchedServers, 'endpoints' | 'experts' | 'servers' | 'stop'>,
  simulated = false,
): LaunchedServers {
  return {
    launcher,
    ...parts,
    clock: REAL_CLOCK,
    transport: httpTransportOf(ctx),
    fetchText: fetchTextUndici,
    simulated,
  };
}

export async function launchExternal(spec: ServersSpec, ctx: LaunchContext): Promise<LaunchedServers> {
  if (spec.kind !== 'external') throw new Error(`external launcher given kind ${spec.kind}`);
  if (spec.url !== undefined) {
    // one server by its API base: the path (a gateway's prefix) is kept as given
    const baseUrl = spec.url.replace(/\/+$/, '');
    const model = spec.model as string;
    const u = new URL(baseUrl);
    const endpoints = new Map([[model, [{ baseUrl, model, label: u.host }]]]);
    const url = baseUrl.replace(/\/v1$/, '');
    return overHttp('external', ctx, {
      endpoints,
      experts: {},
      servers: [{ label: u.host, url, model, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) }],
      stop: async () => {},
    });
  }
  const cfg = readEndpoints(spec.endpoints as NonNullable<typeof spec.endpoints>, ctx.baseDir);
  const endpoints = endpointsOf(cfg);
  return overHttp('external', ctx, {
    endpoints,
    experts: cfg.experts,
    servers: infos(endpoints),
    stop: async () => {},
  });
}

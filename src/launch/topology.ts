/** The sim topology of a `kind: sim` servers entry (the sim's own file format, examples/w1-topology.yaml), from a file or inline. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { SimServerSpec } from '../sim/server/index.js';
import { parseTopology } from '../sim/server/topology.js';

export function readTopology(
  t: string | Record<string, unknown>,
  baseDir: string,
): { servers: SimServerSpec[]; experts: Record<string, string>; host?: string } {
  let text: string;
  let where = 'inline topology';
  if (typeof t === 'string') {
    where = resolve(baseDir, t);
    try {
      text = readFileSync(where, 'utf8');
    } catch (err) {
      throw new ServelabError('BAD_FILE', `cannot read sim topology "${where}": ${(err as Error).message}`, {
        cause: err,
      });
    }
  } else text = toYaml(t);
  const r = parseTopology(text);
  if (!r.ok) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${r.issues.length} error(s) in sim topology:\n${r.issues.map((i) => `${where}:${i.line}:${i.col}: ${i.path}: ${i.message}`).join('\n')}`,
    );
  }
  // servers named expert-N are the experts (call_expert(expert="expert-N"))
  const experts: Record<string, string> = {};
  for (const s of r.topology.servers)
    if (s.name && /^expert-/.test(s.name)) experts[s.name] = s.servedModelName ?? s.model;
  return { servers: r.topology.servers, experts, ...(r.topology.host ? { host: r.topology.host } : {}) };
}

type SimSpec = Extract<ServersSpec, { kind: 'sim' }>;

/** The topology's servers with the spec's overrides applied (every simulated server of it). */
export function simServersOf(
  spec: SimSpec,
  baseDir: string,
  opts: { topologyPorts?: boolean } = {},
): { servers: SimServerSpec[]; experts: Record<string, string>; host?: string } {
  const topo = readTopology(spec.topology, baseDir);
  const o = spec.overrides;
  const servers = topo.servers.map((x) => ({
    ...x,
    ...(o.stepTimeScale !== undefined ? { stepTimeScale: o.stepTimeScale } : {}),
    ...(o.stepTimeMs !== undefined ? { stepTimeMs: o.stepTimeMs } : {}),
    ...(o.maxModelLen !== undefined ? { maxModelLen: o.maxModelLen } : {}),
    ...(o.maxNumSeqs !== undefined ? { maxNumSeqs: o.maxNumSeqs } : {}),
    ...(o.freePorts && !opts.topologyPorts ? { port: 0 } : {}),
  }));
  return { ...topo, servers };
}

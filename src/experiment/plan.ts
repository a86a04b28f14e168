/**
 * The one planner: a spec becomes cells, arms x server configs x load levels x repetitions, in
 * the order they run. Today each arm has one server config (its `servers` entry) and the load
 * levels are the spec's concurrencies; the Cell type keeps both axes so sweeps can fill them.
 * The time mode decides each config's launcher (launch/registry.ts); in virtual time an arm
 * whose servers are `command` or `external` runs its `simulateAs` system, or is refused.
 */
import type { ArmSpec, ServersSpec, Spec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LauncherKind } from '../launch/launcher.js';
import { launcherKind, type TimeMode } from '../launch/registry.js';
import { shellQuote } from '../shell-quote.js';

/** One server configuration of an arm: what is started for its cells. */
export interface ServerConfig {
  /** the spec's servers.<name> */
  name: string;
  spec: ServersSpec;
  launcher: LauncherKind;
  /** swept server parameters of this config (none until sweeps fill the axis) */
  params: Record<string, unknown>;
  /** virtual time: the arm's own servers' kind that `simulateAs` stands in for */
  standsInFor?: ServersSpec['kind'];
}

export type LoadLevel = { kind: 'concurrency'; concurrency: number };

export interface Cell {
  /** 0-based position in the plan */
  index: number;
  /** <arm>/c<C>/r<rep>: the cell's directory and its name in run.json */
  id: string;
  arm: ArmSpec;
  server: ServerConfig;
  load: LoadLevel;
  /** the load's concurrency (agent programs in flight) */
  concurrency: number;
  rep: number;
  /** spec.seed + rep - 1 */
  seed: number;
}

export interface Plan {
  mode: TimeMode;
  cells: Cell[];
}

function serverConfig(spec: Spec, arm: ArmSpec, mode: TimeMode): ServerConfig {
  const s = spec.servers[arm.servers];
  if (!s)
    throw new ServelabError('BAD_CONFIG', `arm ${arm.name}: unknown servers ${arm.servers}`, {
      hint: `the spec's servers: ${Object.keys(spec.servers).join(', ')}`,
    });
  const own = launcherKind(s.kind, mode);
  if (own) return { name: arm.servers, spec: s, launcher: own, params: {} };
  if (arm.simulateAs) {
    const stand: ServersSpec = { kind: 'sim', ...arm.simulateAs };
    return {
      name: arm.servers,
      spec: stand,
      launcher: launcherKind('sim', mode) as LauncherKind,
      params: {},
      standsInFor: s.kind,
    };
  }
  throw new ServelabError(
    'BAD_CONFIG',
    `arm ${arm.name}: its servers (servers.${arm.servers}) are kind ${s.kind}, which cannot run in virtual time (every server of a simulated run is a simulated engine)`,
    {
      hint: `say which simulated system stands in for them: arms[${arm.name}].simulateAs: {topology: <a sim topology file or inline>} (docs/FORMATS.md), or run it in real time with \`servelab run\``,
    },
  );
}

export function planExperiment(spec: Spec, mode: TimeMode = 'real'): Plan {
  const cells: Cell[] = [];
  for (const arm of spec.arms) {
    const configs = [serverConfig(spec, arm, mode)];
    for (const server of configs)
      for (const concurrency of spec.concurrency)
        for (let rep = 1; rep <= spec.repetitions; rep++)
          cells.push({
            index: cells.length,
            id: `${arm.name}/c${concurrency}/r${rep}`,
            arm,
            server,
            load: { kind: 'concurrency', concurrency },
            concurrency,
            rep,
            seed: spec.seed + rep - 1,
          });
  }
  return { mode, cells };
}

/** One line per server config: what is launched (argv of command recipes, quoted for pasting). */
function describeServer(c: ServerConfig): string {
  const s = c.spec;
  const who = c.standsInFor ? ` (simulateAs, for kind ${c.standsInFor})` : '';
  if (s.kind === 'sim')
    return `${c.launcher}${who}: topology ${typeof s.topology === 'string' ? shellQuote(s.topology) : 'inline'}`;
  if (s.kind === 'external') return 'external: endpoints already running';
  return `command: ${s.processes.map((p) => `${p.label}: ${p.argv.map(shellQuote).join(' ')}`).join('; ')}`;
}

/** The plan as `--dry-run` prints it: every cell in run order, with what it launches. */
export function planLines(plan: Plan): string[] {
  const n = plan.cells.length;
  const out = [`plan: ${n} cell(s) in ${plan.mode} time`];
  let last: ServerConfig | undefined;
  for (const c of plan.cells) {
    if (c.server !== last)
      out.push(`  servers.${c.server.name} for arm ${c.arm.name}: ${describeServer(c.server)}`);
    last = c.server;
    out.push(`    cell ${c.index + 1} of ${n}: ${c.id} (C=${c.concurrency}, seed ${c.seed})`);
  }
  return out;
}

/**
 * One launcher per kind (a Record, no registry magic). Which one a servers entry gets depends on
 * its `kind` and the run's time mode: `kind: sim` is sim-http in real time and sim-virtual in
 * virtual time; `command` and `external` exist only in real time (an arm's `simulateAs` names
 * the simulated system that stands in for them in virtual time: experiment/plan.ts).
 */
import type { ServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import { launchCommand } from './command.js';
import { launchExternal } from './external.js';
import type { LaunchContext, LaunchedServers, LauncherKind } from './launcher.js';
import { launchSimHttp } from './sim-http.js';
import { launchSimVirtual } from './sim-virtual.js';

export type Launcher = (spec: ServersSpec, ctx: LaunchContext) => Promise<LaunchedServers>;

/** A slurm cell is a job that starts its own servers (launch/slurm-launcher.ts runSlurmCell). */
async function launchSlurm(): Promise<LaunchedServers> {
  throw new ServelabError(
    'LAUNCH_FAILED',
    'slurm servers are started inside their job: the cell runner submits the cell (runSlurmCell)',
  );
}

export const LAUNCHERS: Record<LauncherKind, Launcher> = {
  'sim-http': launchSimHttp,
  'sim-virtual': launchSimVirtual,
  command: launchCommand,
  external: launchExternal,
  slurm: launchSlurm,
};

export type TimeMode = 'real' | 'virtual';

/** The launcher of a servers entry in a time mode; undefined: that kind cannot run in that mode. */
export function launcherKind(kind: ServersSpec['kind'], mode: TimeMode): LauncherKind | undefined {
  if (kind === 'sim') return mode === 'virtual' ? 'sim-virtual' : 'sim-http';
  // a `kind: vllm` entry is rendered to command or sim servers per config (experiment/plan.ts)
  if (kind === 'vllm') return undefined;
  return mode === 'real' ? kind : undefined;
}

export function launch(kind: LauncherKind, spec: ServersSpec, ctx: LaunchContext): Promise<LaunchedServers> {
  return LAUNCHERS[kind](spec, ctx);
}

/**
 * Servers of one cell, from the launcher registry (src/launch/registry.ts): one launcher per
 * kind, each giving back endpoints, a transport factory, the clock, metrics pages and stop().
 * What can be checked before anything starts (recipes' executables) is here too.
 */
import { parseModelConfig } from '../config/load.js';
import type { ServersSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { LaunchContext, LaunchedServers } from '../launch/launcher.js';
import { findExecutable } from '../launch/local.js';
import { launch, launcherKind, type TimeMode } from '../launch/registry.js';

export { gpuNotesBeforeLaunch } from '../launch/command.js';
export type { ServerInfo } from '../launch/launcher.js';
export { readTopology } from '../launch/topology.js';

export type RunningServers = LaunchedServers;

export interface StartServersOptions extends LaunchContext {
  spec: ServersSpec;
  /** real time (default) or virtual time */
  mode?: TimeMode;
}

export async function startServers(opts: StartServersOptions): Promise<RunningServers> {
  const { spec, mode = 'real', ...ctx } = opts;
  const kind = launcherKind(spec.kind, mode);
  if (!kind)
    throw new ServelabError(
      'BAD_CONFIG',
      `servers.${opts.name ?? '<name>'}: kind ${spec.kind} cannot run in ${mode} time`,
      { hint: 'in virtual time every server is simulated: give the arm `simulateAs` (docs/FORMATS.md)' },
    );
  return launch(kind, spec, ctx);
}

/**
 * What can be known before anything starts: every `command` recipe's executable (argv[0]) is
 * found (on PATH or at its path). One error per recipe that cannot be started; `--dry-run` and
 * `servelab run` (before it creates the run directory) report them and exit 3.
 */
export function launchProblems(
  servers: Readonly<Record<string, ServersSpec>>,
  names: readonly string[],
  env: NodeJS.ProcessEnv,
): ServelabError[] {
  const out: ServelabError[] = [];
  for (const name of new Set(names)) {
    const s = servers[name];
    if (s?.kind !== 'command') continue;
    for (const r of s.processes) {
      try {
        findExecutable(r, env);
      } catch (err) {
        if (!(err instanceof ServelabError)) throw err;
        out.push(
          new ServelabError('LAUNCH_FAILED', `servers.${name}: ${err.message}`, {
            ...(err.hint ? { hint: err.hint } : {}),
          }),
        );
      }
    }
  }
  return out;
}

/** parseModelConfig re-exported for the agent command (a model-config JSON without a spec). */
export { parseModelConfig };

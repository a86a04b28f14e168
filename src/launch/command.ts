/**
 * `kind: command`: recipes spawned from argv (launch/local.ts: executable found first, port
 * checked free, one log per process, health wait, process-group teardown). Before they start,
 * GPUs whose memory is already held are noted (WORKFLOWS.md W4).
 */
import { endpointsOf } from '../config/model-config.js';
import type { ServersSpec } from '../config/spec.js';
import { type ExecFileFn, GPU_HELD_MIB, queryGpus } from '../preflight/gpu.js';
import { infos, overHttp, readEndpoints } from './external.js';
import type { LaunchContext, LaunchedServers } from './launcher.js';
import {
  assertPortFree,
  findExecutable,
  killGroup,
  type LaunchedProcess,
  spawnRecipe,
  waitHealthy,
} from './local.js';

/**
 * GPUs (those the recipes name in CUDA_VISIBLE_DEVICES, else all) whose memory is already held,
 * e.g. by a server of the previous cell that outlived its process group, or a dead job.
 * Nothing when nvidia-smi is absent.
 */
export async function gpuNotesBeforeLaunch(
  processes: readonly { env?: Record<string, string> | undefined }[],
  execFile?: ExecFileFn,
): Promise<string[]> {
  const g = await queryGpus(execFile);
  if (!g.available) return [];
  // a process without CUDA_VISIBLE_DEVICES (or with GPU UUIDs in it) may use any GPU
  let all = false;
  const named = new Set<number>();
  for (const p of processes) {
    const ids = (p.env?.CUDA_VISIBLE_DEVICES ?? '').split(',').map((d) => d.trim());
    if (!ids.every((d) => /^\d+$/.test(d))) all = true;
    else for (const d of ids) named.add(Number(d));
  }
  return g.gpus
    .filter((x) => x.memoryUsedMiB > GPU_HELD_MIB && (all || named.has(x.index)))
    .map(
      (x) =>
        `before launch: GPU ${x.index} already holds ${x.memoryUsedMiB} MiB of ${x.memoryTotalMiB} MiB ` +
        '(a server of an earlier cell, or a dead job?); the new server may not fit, or may measure less KV cache than it should',
    );
}

export async function launchCommand(spec: ServersSpec, ctx: LaunchContext): Promise<LaunchedServers> {
  if (spec.kind !== 'command') throw new Error(`command launcher given kind ${spec.kind}`);
  const s = spec;
  const cfg = readEndpoints(s.endpoints, ctx.baseDir);
  const launched: LaunchedProcess[] = [];
  const stop = async () => {
    await Promise.all(launched.map((p) => killGroup(p, s.stopTimeoutS * 1000)));
  };
  for (const r of s.processes) findExecutable(r, ctx.env);
  for (const r of s.processes) await assertPortFree(r);
  for (const n of await gpuNotesBeforeLaunch(s.processes, ctx.execFile)) ctx.onNote?.(n);
  try {
    for (const r of s.processes) launched.push(spawnRecipe(r, ctx.logsDir, ctx.env));
    await Promise.all(
      s.processes.map((r, i) =>
        waitHealthy(
          launched[i] as LaunchedProcess,
          r.health ?? `http://127.0.0.1:${r.port}/health`,
          s.healthTimeoutS * 1000,
          ctx.signal,
        ),
      ),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const endpoints = endpointsOf(cfg);
  const servers = infos(endpoints).map((info) => {
    const i = s.processes.findIndex((p) => p.port === info.port);
    const p = s.processes[i];
    return p ? { ...info, label: p.label, flags: p.argv, log: launched[i]?.logPath } : info;
  });
  return overHttp('command', ctx, { endpoints, experts: cfg.experts, servers, stop });
}

/**
 * Local server processes from command recipes: spawned from argv arrays (never through a
 * shell), each in its own process group with stdout+stderr to logs/<label>.log; health wait;
 * teardown kills the whole group (SIGTERM, then SIGKILL after a timeout).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ServelabError } from '../errors.js';

export interface ProcessRecipe {
  label: string;
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  port: number;
  health?: string;
}

export interface LaunchedProcess {
  label: string;
  pid: number;
  logPath: string;
  child: ChildProcess;
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

export function spawnRecipe(r: ProcessRecipe, logsDir: string, baseEnv: NodeJS.ProcessEnv): LaunchedProcess {
  const logPath = join(logsDir, `${r.label}.log`);
  const fd = openSync(logPath, 'a');
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let child: ChildProcess;
  try {
    child = spawn(r.argv[0] as string, r.argv.slice(1), {
      cwd: r.cwd,
      env: { ...baseEnv, ...r.env },
      stdio: ['ignore', fd, fd],
      detached: true,
      shell: false,
    });
  } finally {
    closeSync(fd);
  }
  child.on('exit', (code, signal) => {
    exit = { code, signal };
  });
  child.on('error', (err) => {
    exit = { code: -1, signal: null };
    void err;
  });
  if (child.pid === undefined) {
    throw new ServelabError('LAUNCH_FAILED', `could not start ${r.label}: ${r.argv[0]}`, {
      hint: `is "${r.argv[0]}" installed and on PATH? see ${logPath}`,
    });
  }
  return { label: r.label, pid: child.pid, logPath, child, exited: () => exit };
}

/** Polls the health URL until 200, the process exits, the timeout or the signal. */
export async function waitHealthy(
  p: LaunchedProcess,
  url: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ex = p.exited();
    if (ex) {
      throw new ServelabError(
        'LAUNCH_FAILED',
        `${p.label} exited (code ${ex.code}, signal ${ex.signal}) before ${url} answered`,
        {
          hint: `see ${p.logPath}`,
        },
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet ("connection refused" while it loads): keep waiting
    }
    if (signal?.aborted) throw new ServelabError('INTERRUPTED', `interrupted while waiting for ${p.label}`);
    if (Date.now() > deadline) {
      throw new ServelabError(
        'LAUNCH_FAILED',
        `${p.label}: ${url} not healthy after ${Math.round(timeoutMs / 1000)} s`,
        {
          hint: `see ${p.logPath}; raise healthTimeoutS for slow model loads`,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Kills the process group: SIGTERM, then SIGKILL after timeoutMs. */
export async function killGroup(p: LaunchedProcess, timeoutMs: number): Promise<void> {
  if (p.exited()) return;
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-p.pid, sig);
    } catch {
      // the group is already gone
    }
  };
  send('SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (!p.exited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (!p.exited()) send('SIGKILL');
}

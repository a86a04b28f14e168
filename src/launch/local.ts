/**
 * Local server processes from command recipes: spawned from argv arrays (never through a
 * shell), each in its own process group with stdout+stderr to logs/<label>.log; health wait;
 * teardown kills the whole group (SIGTERM, then SIGKILL after a timeout).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
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

function executableAt(path: string): 'ok' | 'missing' | 'not-executable' {
  try {
    if (!statSync(path).isFile()) return 'missing';
  } catch {
    return 'missing';
  }
  try {
    accessSync(path, constants.X_OK);
    return 'ok';
  } catch {
    return 'not-executable';
  }
}

/**
 * Where argv[0] of a recipe would be found by spawn: a path (with a slash) as given, relative
 * to the recipe's cwd; a bare name on the PATH of the environment it gets. Throws
 * LAUNCH_FAILED (exit 3) naming the reason: not on PATH, no such file, not executable.
 */
export function findExecutable(
  r: Pick<ProcessRecipe, 'label' | 'argv' | 'env' | 'cwd'>,
  baseEnv: NodeJS.ProcessEnv,
): string {
  const cmd = r.argv[0] ?? '';
  if (cmd.includes('/')) {
    const path = isAbsolute(cmd) ? cmd : resolve(r.cwd ?? '.', cmd);
    const found = executableAt(path);
    if (found === 'ok') return path;
    throw new ServelabError(
      'LAUNCH_FAILED',
      `cannot start ${r.label}: ${path} ${found === 'missing' ? 'does not exist' : 'is not executable'}`,
      {
        hint:
          found === 'missing' ? 'fix argv[0] of the recipe (an absolute path is safest)' : `chmod +x ${path}`,
      },
    );
  }
  const pathVar = r.env.PATH ?? baseEnv.PATH ?? '';
  let notExecutable: string | undefined;
  for (const d of pathVar.split(delimiter)) {
    if (!d) continue;
    const path = join(d, cmd);
    const found = executableAt(path);
    if (found === 'ok') return path;
    if (found === 'not-executable') notExecutable ??= path;
  }
  throw new ServelabError(
    'LAUNCH_FAILED',
    `cannot start ${r.label}: ${cmd} is not on PATH${notExecutable ? ` (${notExecutable} exists but is not executable)` : ''}`,
    {
      hint:
        `install ${cmd} where servelab runs (e.g. activate the virtualenv that has it before servelab run), ` +
        `or give argv[0] as an absolute path (e.g. /opt/venv/bin/${cmd})`,
    },
  );
}

/** true when something accepts TCP connections on host:port (so a server launched there would not own it). */
export function portInUse(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host });
    const done = (v: boolean) => {
      s.destroy();
      res(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Before a recipe is spawned: its port must be free. Otherwise the health check would pass
 * against whatever listens there and the cell would measure another server.
 */
export async function assertPortFree(r: Pick<ProcessRecipe, 'label' | 'port' | 'health'>): Promise<void> {
  const host = r.health ? new URL(r.health).hostname : '127.0.0.1';
  if (await portInUse(r.port, host)) {
    throw new ServelabError(
      'LAUNCH_FAILED',
      `cannot start ${r.label}: port ${r.port} is already in use on ${host} (another server, another run, or one that outlived its cell)`,
      {
        hint: `stop what listens there (\`ss -ltnp 'sport = :${r.port}'\` names it), or give this recipe another port (in its argv, port: and endpoints)`,
      },
    );
  }
}

export function spawnRecipe(r: ProcessRecipe, logsDir: string, baseEnv: NodeJS.ProcessEnv): LaunchedProcess {
  findExecutable(r, baseEnv);
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
      // vLLM (uvicorn) and servelab sim both say so in their log when the port is taken
      const inUse = /address already in use|EADDRINUSE/i.test(logTail(p.logPath));
      throw new ServelabError(
        'LAUNCH_FAILED',
        `${p.label} exited (code ${ex.code}, signal ${ex.signal}) before ${url} answered` +
          (inUse ? ': its port is already in use' : ''),
        {
          hint: inUse
            ? `stop what listens on that port, or give the recipe another port; see ${p.logPath}`
            : `see ${p.logPath}`,
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

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-16_384);
  } catch {
    return '';
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

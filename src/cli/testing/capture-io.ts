import type { CliIO } from '../io.js';

/** A CliIO for tests: stdout / stderr collected in arrays, nothing touches the real process. */
export function captureIo(opts: { env?: NodeJS.ProcessEnv; cwd?: string; signal?: AbortSignal } = {}): {
  out: string[];
  err: string[];
  io: CliIO;
} {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      isTTY: false,
      env: opts.env ?? {},
      cwd: opts.cwd ?? process.cwd(),
      signal: opts.signal ?? new AbortController().signal,
    },
  };
}

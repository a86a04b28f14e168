/**
 * Typed errors for bad input and failed operations. A failed *request* is never one of these:
 * it is data (a record with status error/incomplete). These are for things the user must fix.
 */
export type ErrorCode =
  | 'BAD_FLAG'
  | 'BAD_CONFIG'
  | 'BAD_FILE'
  | 'NOT_FOUND'
  | 'NOT_READY'
  | 'LAUNCH_FAILED'
  | 'INTERRUPTED'
  | 'INTERNAL';

/** Stable process exit codes (documented in the README). */
export const EXIT = {
  ok: 0,
  /** the command ran but the outcome is "not good" (e.g. `check` found endpoints not ready) */
  failed: 1,
  /** bad flags, bad spec, bad input file */
  usage: 2,
  /** a server or job could not be launched */
  launch: 3,
  /** interrupted by SIGINT/SIGTERM; what was measured is kept */
  interrupted: 130,
} as const;

export class ServelabError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; cause?: unknown; exitCode?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ServelabError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode =
      opts.exitCode ??
      (code === 'LAUNCH_FAILED'
        ? EXIT.launch
        : code === 'INTERRUPTED'
          ? EXIT.interrupted
          : code === 'NOT_READY'
            ? EXIT.failed // the input was fine; the server was not there or not ready
            : EXIT.usage);
  }
}

/** One line (plus an optional hint line) for a person; never a stack trace. */
export function formatError(err: unknown): string {
  if (err instanceof ServelabError) {
    return `error: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ''}`;
  }
  const msg = err instanceof Error ? err.message : String(err);
  return `error: ${msg}`;
}

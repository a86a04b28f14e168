/**
 * The CLI's effects, injected so tests can drive commands without touching the real process.
 * Only cli/ uses this; library code returns data or takes callbacks.
 */
import type { SecretRegistry } from '../config/secrets.js';

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** true when stderr is a terminal (live progress redraws in place) */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** aborted on SIGINT/SIGTERM; long commands stop dispatch and keep what was measured */
  signal: AbortSignal;
  /**
   * Every secret this invocation was given; runMain creates it, scrubs stdout / stderr with it,
   * and commands register what they resolve and hand it to the writers of their files. Absent
   * only when a test drives a command without runMain.
   */
  secrets?: SecretRegistry;
}

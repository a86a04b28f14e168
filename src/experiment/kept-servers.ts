/**
 * Servers kept across the cells of a series (a load scenario's levels: a ramp's steps share a
 * warm server, a soak's injected drift grows with the server's uptime over the whole run): the
 * first cell that launches starts them (or the series, before its first cell), the later cells
 * reuse them, no cell's teardown stops them, the series does at its end. Each cell.json states
 * it (`serversKept`). For `kind: external` servers nothing is started or stopped either way.
 */
import type { LaunchedServers } from '../launch/launcher.js';

/** What cell.json says about servers kept across a series. */
export interface ServersKeptJson {
  /** the cell that started them, or `series` when the series did before its first cell */
  launchedBy: string;
  /** true when this cell found them running (its launch phase started nothing) */
  reused: boolean;
}

export class KeptServers {
  private running: Promise<LaunchedServers> | undefined;
  private by: string | undefined;
  private stopped = false;

  /** @param logsDir the servers' logs (one folder for the series, not a cell's) */
  constructor(readonly logsDir: string) {}

  /** The servers, started by `start` the first time (and again after a launch that failed). */
  acquire(by: string, start: () => Promise<LaunchedServers>): Promise<LaunchedServers> {
    if (this.stopped) return Promise.reject(new Error('the series has ended: its servers are stopped'));
    if (!this.running) {
      this.by = by;
      const p = start();
      this.running = p;
      p.catch(() => {
        if (this.running === p) this.running = undefined;
      });
    }
    return this.running;
  }

  /** cell.json's record for cell `id` (call after acquire) */
  record(id: string): ServersKeptJson {
    return { launchedBy: this.by ?? id, reused: this.by !== id };
  }

  /** Stops the servers (once; the series' end). */
  async stop(): Promise<void> {
    this.stopped = true;
    const p = this.running;
    this.running = undefined;
    if (!p) return;
    const s = await p.catch(() => undefined);
    await s?.stop();
  }
}

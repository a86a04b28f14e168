import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** How busy the client itself was while it measured. */
export interface LoopCheck {
  /** event-loop delay beyond the sampling resolution, ms */
  delayMeanMs: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** event-loop utilisation 0-1 (time the loop was busy / wall time) */
  utilisation: number;
}

export interface SelfCheckReport {
  /** the main thread, then each worker */
  loops: LoopCheck[];
  /** process CPU (user + system, all threads) / wall time, in cores */
  cpuCores: number;
  cores: number;
  wallS: number;
  warning?: string;
}

export interface LoopProbe {
  stop(): LoopCheck;
}

/** Starts measuring this thread's event loop (works in worker threads too). */
export function probeLoop(): LoopProbe {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  return {
    stop() {
      h.disable();
      const elu = performance.eventLoopUtilization(elu0);
      const ns = (x: number) => (Number.isFinite(x) ? x / 1e6 : 0);
      // the histogram counts the resolution itself as delay
      const adj = (x: number) => Math.max(0, ns(x) - 5);
      return {
        delayMeanMs: adj(h.mean),
        delayP99Ms: adj(h.percentile(99)),
        delayMaxMs: adj(h.max),
        utilisation: elu.utilization,
      };
    },
  };
}

export interface SelfCheck {
  stop(workerLoops?: LoopCheck[]): SelfCheckReport;
}

/** Thresholds past which the client, not the server, is likely to limit what was measured. */
export const SATURATION = { utilisation: 0.85, delayP99Ms: 20 } as const;

export function startSelfCheck(): SelfCheck {
  const loop = probeLoop();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return {
    stop(workerLoops = []) {
      const main = loop.stop();
      const cpu = process.cpuUsage(cpu0);
      const wallS = (performance.now() - t0) / 1000;
      const report: SelfCheckReport = {
        loops: [main, ...workerLoops],
        cpuCores: wallS > 0 ? (cpu.user + cpu.system) / 1e6 / wallS : 0,
        cores: availableParallelism(),
        wallS,
      };
      const w = saturationWarning(report);
      if (w) report.warning = w;
      return report;
    },
  };
}

/**
 * A warning when a measuring loop was saturated: busy most of the time, or late to run timers
 * by more than the threshold. With workers, the main loop only dispatches; the workers measure.
 */
export function saturationWarning(r: SelfCheckReport): string | undefined {
  const measuring = r.loops.length > 1 ? r.loops.slice(1) : r.loops;
  const worst = measuring.reduce(
    (a, l) => ({ u: Math.max(a.u, l.utilisation), d: Math.max(a.d, l.delayP99Ms) }),
    { u: 0, d: 0 },
  );
  const busyCpu = r.cpuCores >= 0.9 * Math.min(r.cores, r.loops.length);
  if (worst.u >= SATURATION.utilisation || worst.d >= SATURATION.delayP99Ms || busyCpu)
    return (
      `client saturated: event loop ${(worst.u * 100).toFixed(0)} % busy, timer delay p99 ${worst.d.toFixed(1)} ms, ` +
      `CPU ${r.cpuCores.toFixed(2)} of ${r.cores} cores: latencies include client delay; ${
        r.loops.length > 1
          ? 'give the client more idle cores or fewer streams per worker'
          : 'use --workers N (idle cores needed) or fewer streams'
      }`
    );
  return undefined;
}

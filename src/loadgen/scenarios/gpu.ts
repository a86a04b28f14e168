/**
 * GPU utilisation and memory over a level from the DCGM exporter's series in Prometheus
 * (`DCGM_FI_DEV_GPU_UTIL` in %, `DCGM_FI_DEV_FB_USED` in MiB), read with query_range.
 */
import { queryRange } from '../../metrics/prometheus-source.js';
import type { GpuStats } from './level.js';

export function dcgmGpuStats(
  prometheusUrl: string,
): (startUnixMs: number, endUnixMs: number) => Promise<GpuStats | undefined> {
  return async (startUnixMs, endUnixMs) => {
    const startUnixS = Math.floor(startUnixMs / 1000);
    const endUnixS = Math.max(startUnixS + 1, Math.ceil(endUnixMs / 1000));
    const stepS = Math.max(1, Math.ceil((endUnixS - startUnixS) / 250));
    const q = (query: string) => queryRange({ prometheusUrl, query, startUnixS, endUnixS, stepS });
    const [util, fb] = await Promise.all([q('DCGM_FI_DEV_GPU_UTIL'), q('DCGM_FI_DEV_FB_USED')]);
    const values = (s: typeof util) =>
      s.flatMap((x) => x.values.map((v) => Number(v[1])).filter(Number.isFinite));
    const u = values(util);
    const m = values(fb);
    if (u.length === 0 && m.length === 0) return undefined;
    const out: GpuStats = { source: `${prometheusUrl} (DCGM)`, gpus: Math.max(util.length, fb.length) };
    if (u.length) {
      out.utilMeanPct = u.reduce((a, b) => a + b, 0) / u.length;
      out.utilMaxPct = Math.max(...u);
    }
    if (m.length) out.fbUsedMaxMiB = Math.max(...m);
    return out;
  };
}

/**
 * One compact block per tick for `servelab monitor`: health and KV / running / waiting per
 * endpoint, GPU use when nvidia-smi exists, and the progress of a run directory. Plain lines, no
 * cursor movement, so it reads the same in tmux and in a log file.
 */
import { type FetchText, fetchTextUndici } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { type CanonicalSnapshot, canonicalize } from '../metrics/snapshot.js';
import { type ExecFileFn, queryGpus } from './gpu.js';
import { type CellProgress, RunProgressReader } from './run-progress.js';

export interface MonitorOptions {
  endpoints: { url: string; label: string }[];
  runDir?: string;
  gpu?: boolean;
  execFile?: ExecFileFn;
  fetchText?: FetchText;
  /** sent with every GET (/health, /metrics): an API key, a gateway's header */
  headers?: Record<string, string>;
  timeoutMs?: number;
  nowMs?: () => number;
}

export interface EndpointStatus {
  label: string;
  healthy: boolean;
  detail: string;
  /** why /metrics could not be read */
  metricsDetail?: string;
  snapshot?: CanonicalSnapshot;
  preemptionsDelta?: number;
}

export interface MonitorTick {
  atMs: number;
  endpoints: EndpointStatus[];
  gpus?: { index: number; memoryUsedMiB: number; memoryTotalMiB: number; utilizationPct?: number }[];
  run?: CellProgress;
  text: string;
}

const pct = (f: number | undefined) => (f === undefined ? '  -  ' : `${(f * 100).toFixed(1).padStart(5)}%`);

export function createMonitor(opts: MonitorOptions): { tick(): Promise<MonitorTick> } {
  const fetchText = opts.fetchText ?? fetchTextUndici;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const now = opts.nowMs ?? Date.now;
  const prev = new Map<string, CanonicalSnapshot>();
  const reader = opts.runDir ? new RunProgressReader(opts.runDir, now) : undefined;
  let n = 0;

  const auth = opts.headers ? { headers: opts.headers } : {};

  async function endpoint(e: { url: string; label: string }): Promise<EndpointStatus> {
    const origin = new URL(e.url.includes('://') ? e.url : `http://${e.url}`).origin;
    const [health, metrics] = await Promise.all([
      fetchText(`${origin}/health`, { timeoutMs, ...auth }),
      fetchText(`${origin}/metrics`, { timeoutMs, ...auth }),
    ]);
    // a failure's message quotes the server, capped by fetchText (capServerText)
    const said = (r: { message: string }) => r.message;
    const st: EndpointStatus = {
      label: e.label,
      healthy: health.ok,
      detail: health.ok ? 'up' : health.status ? said(health) : health.kind,
    };
    if (!metrics.ok) st.metricsDetail = metrics.status ? said(metrics) : metrics.kind;
    if (metrics.ok) {
      const parsed = parsePrometheusText(metrics.text);
      if (parsed.ok) {
        const snap = canonicalize(parsed.page, { url: `${origin}/metrics`, fetchedAtUnixMs: now() });
        const before = prev.get(e.label);
        if (before?.combined.preemptions !== undefined && snap.combined.preemptions !== undefined)
          st.preemptionsDelta = snap.combined.preemptions - before.combined.preemptions;
        prev.set(e.label, snap);
        st.snapshot = snap;
      } else st.detail += `; /metrics line ${parsed.error.line}: ${parsed.error.message}`;
    }
    return st;
  }

  return {
    async tick() {
      n++;
      const atMs = now();
      const [endpoints, gpu] = await Promise.all([
        Promise.all(opts.endpoints.map(endpoint)),
        opts.gpu === false ? Promise.resolve(undefined) : queryGpus(opts.execFile, timeoutMs),
      ]);
      const run = reader?.read();
      const lines = [`== ${new Date(atMs).toISOString()}  tick ${n} ==`];
      const w = Math.max(8, ...endpoints.map((e) => e.label.length));
      for (const e of endpoints) {
        const c = e.snapshot?.combined;
        const parts = [e.label.padEnd(w), (e.healthy ? 'up' : 'DOWN').padEnd(4)];
        if (c) {
          parts.push(
            `kv ${pct(c.kvUsageFrac)}`,
            `run ${String(c.running ?? '-').padStart(3)}`,
            `wait ${String(c.waiting ?? '-').padStart(3)}`,
          );
          if (c.preemptions !== undefined)
            parts.push(`preempt ${c.preemptions}${e.preemptionsDelta ? ` (+${e.preemptionsDelta})` : ''}`);
          const engines = Object.keys(e.snapshot!.engines).filter((k) => k !== '');
          if (engines.length > 1)
            parts.push(
              `engines ${engines.map((k) => pct(e.snapshot!.engines[k]!.kvUsageFrac).trim()).join('/')}`,
            );
        } else if (e.healthy)
          parts.push(e.metricsDetail ? `no /metrics (${e.metricsDetail})` : 'no /metrics');
        if (!e.healthy) parts.push(e.detail);
        lines.push(`  ${parts.join('  ')}`);
      }
      let gpus: MonitorTick['gpus'];
      if (gpu?.available) {
        gpus = gpu.gpus;
        lines.push(
          `  GPU  ${gpu.gpus
            .map(
              (g) =>
                `${g.index}: ${(g.memoryUsedMiB / 1024).toFixed(1)}/${(g.memoryTotalMiB / 1024).toFixed(1)} GiB${g.utilizationPct !== undefined ? ` ${g.utilizationPct}%` : ''}`,
            )
            .join(' | ')}`,
        );
      }
      if (opts.runDir) {
        if (!run) lines.push(`  run  ${opts.runDir}: no cell yet`);
        else {
          const done = run.total
            ? `${run.done}/${run.total} (${((run.done / run.total) * 100).toFixed(0)}%)`
            : `${run.done}`;
          const agent = run.counts['tasks.jsonl'] !== undefined || run.steps !== undefined;
          const parts = [`${run.cell}: ${agent ? 'tasks' : 'requests'} ${done}`];
          if (agent) {
            parts.push(`ok ${run.ok}, failed ${run.failed ?? 0}, incomplete ${run.incomplete ?? 0}`);
            // a step is an orchestrator call, in every command: expert and user calls apart
            if (run.steps !== undefined)
              parts.push(
                `steps ${run.steps} (expert calls ${run.expertCalls ?? 0}, user calls ${run.userCalls ?? 0})`,
              );
            if (run.okPerMin !== undefined)
              parts.push(
                `${run.okPerMin.toFixed(2)} ok tasks/min (all ended ${run.allPerMin!.toFixed(2)}) over ${run.spanS!.toFixed(0)} s of ${run.status === 'running' || !run.status ? 'the cell so far' : 'its makespan'}`,
              );
            if (run.perMinRecent !== undefined) parts.push(`${run.perMinRecent.toFixed(2)} tasks/min now`);
          } else {
            if (run.perMinRecent !== undefined) parts.push(`${run.perMinRecent.toFixed(2)}/min now`);
            parts.push(`errors ${run.errors}`);
          }
          if (run.status) parts.push(run.status);
          lines.push(`  run  ${parts.join(', ')}`);
        }
      }
      return {
        atMs,
        endpoints,
        ...(gpus ? { gpus } : {}),
        ...(run ? { run } : {}),
        text: `${lines.join('\n')}\n`,
      };
    },
  };
}

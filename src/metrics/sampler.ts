/**
 * Samples /metrics of many endpoints at a fixed interval into the users' CSV
 * (`ts_iso,ts_unix,port,metric,value`, one row per endpoint per metric per tick), or a wide CSV
 * (one row per tick, one column per port:metric). Ticks sit on absolute times (t0 + k*interval),
 * so they never drift; each request has a timeout shorter than the interval and a target whose
 * previous request is still out is skipped for that tick, so a slow endpoint never delays the
 * others or the schedule. A tick the process was too busy to run is counted as missed, not run
 * late. An endpoint that stops answering leaves a gap and one note per outage.
 */
import { closeSync, existsSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { ServelabError } from '../errors.js';
import { setTimer } from '../timers.js';
import { type FetchText, fetchTextUndici } from './fetch.js';
import { formatParseFailure, type ParsedPage, parsePrometheusText, type Sample } from './parse.js';
import { aliasesOf, KV_USAGE_NAMES, REGISTRY } from './registry.js';
import { serverOrigin } from './snapshot.js';
import { engineMetricName, sampleToCsvLine, TIMESERIES_HEADER } from './timeseries.js';

export interface SamplerTarget {
  /** the server (any URL of it; /metrics is read at its origin) */
  url: string;
  /** the port written in the CSV's port column */
  port: number;
  label?: string;
}

export interface SamplerClock {
  /** wall clock, ms since the epoch */
  nowUnixMs(): number;
  /** resolves at the given wall time, or early when the signal aborts */
  sleepUntil(unixMs: number, signal: AbortSignal): Promise<void>;
}

export const realClock: SamplerClock = {
  nowUnixMs: () => Date.now(),
  sleepUntil: (t, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimer(done, t - Date.now());
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

export const DEFAULT_SAMPLER_METRICS: readonly string[] = ['vllm:kv_cache_usage_perc'];

export interface SamplerOptions {
  targets: SamplerTarget[];
  /** default 5000; at least 100 */
  intervalMs?: number;
  /**
   * metric names as servers report them; default KV usage. A name missing from a page falls back
   * to the same series' other names (V0 / V1 / SGLang) and the CSV says which name was found.
   */
  metrics?: string[];
  /** the CSV file; appended to when it exists with the same header */
  out: string;
  wide?: boolean;
  /** per-request timeout; default 80 % of the interval, at most 10 s */
  timeoutMs?: number;
  /** stop by itself after this long (from the first tick) */
  durationMs?: number;
  /** stop by itself after this many ticks */
  maxTicks?: number;
  onNote?: (note: string) => void;
  clock?: SamplerClock;
  fetchText?: FetchText;
  /** sent with every GET of /metrics (an API key, a gateway's header) */
  headers?: Record<string, string>;
  /**
   * applied to every CSV line and note before it leaves (the metric column carries the page's
   * label values: server text): the invocation's SecretRegistry.scrub
   */
  scrub?: (text: string) => string;
}

export interface TargetStats {
  label: string;
  port: number;
  ok: number;
  failed: number;
  outages: number;
}

export interface SamplerStats {
  ticks: number;
  rows: number;
  /** ticks that fell due while the process was blocked; skipped, never run late */
  missedTicks: number;
  /** target-ticks skipped because the previous request to that target was still out */
  skippedInFlight: number;
  targets: TargetStats[];
  out: string;
}

export interface SamplerHandle {
  /** stops sampling, aborts requests still out, closes the file; idempotent */
  stop(): Promise<SamplerStats>;
  /** resolves when the sampler ends by itself (duration / maxTicks) or is stopped */
  done: Promise<SamplerStats>;
}

interface TargetState {
  target: SamplerTarget;
  metricsUrl: string;
  label: string;
  inFlight: boolean;
  down: boolean;
  downSinceMs: number;
  missedWhileDown: number;
  missingNoted: Set<string>;
  stats: TargetStats;
}

/** One engine's value of a metric (vLLM `engine`, SGLang `dp_rank`): written as `name{label="n"}`. */
export interface EngineValue {
  label: string;
  engine: string;
  value: number;
}

export interface PageValue {
  /** the name found on the page (the requested one or one of its other names) */
  name: string;
  /** the port's combined value: see {@link combineSeries} */
  value: number;
  /** one entry per engine, sorted by engine number; empty when the page has fewer than two engines */
  engines: EngineValue[];
}

/** The labels that tell engines (data-parallel ranks) behind one port apart. */
const ENGINE_LABELS: readonly string[] = [
  ...new Set(Object.values(REGISTRY).flatMap((k) => [...k.engineLabels])),
];

/**
 * The value of one requested metric on a page, combined over series, and per engine when the page
 * has two or more engines; undefined when absent.
 */
export function valueOnPage(page: ParsedPage, metric: string): PageValue | undefined {
  const base = metric.endsWith('_total') ? metric.slice(0, -6) : metric;
  const names = new Set([metric, ...aliasesOf(base).flatMap((n) => [n, `${n}_total`])]);
  for (const name of names) {
    const samples = seriesNamed(page, name);
    if (samples.length === 0) continue;
    return { name, value: combineSeries(page, name, samples), engines: perEngine(page, name, samples) };
  }
  return undefined;
}

function seriesNamed(page: ParsedPage, name: string): Sample[] {
  const fam =
    page.families.get(name) ??
    page.families.get(name.replace(/_(total|created|bucket|sum|count)$/, '')) ??
    undefined;
  return fam?.samples.filter((s) => s.name === name) ?? [];
}

/** Each engine's value (its series combined as the port's are), when there are two engines or more. */
function perEngine(page: ParsedPage, name: string, samples: Sample[]): EngineValue[] {
  const label = ENGINE_LABELS.find((l) => samples.some((s) => s.labels[l] !== undefined));
  if (label === undefined) return [];
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const e = s.labels[label];
    if (e === undefined) continue;
    groups.set(e, [...(groups.get(e) ?? []), s]);
  }
  if (groups.size < 2) return [];
  return [...groups]
    .sort((a, b) => Number(a[0]) - Number(b[0]) || a[0].localeCompare(b[0]))
    .map(([engine, ss]) => ({ label, engine, value: combineSeries(page, name, ss) }));
}

/**
 * Several series of one name (vLLM: one per engine). KV usage: the port's used blocks / its total
 * blocks, i.e. the engines' usage weighted by their num_gpu_blocks from vllm:cache_config_info, or
 * the plain mean when the page does not give every engine's blocks (the same number when the pools
 * are equal, as with vLLM's data-parallel engines). Other metrics (queues, counters): the sum.
 */
function combineSeries(page: ParsedPage, name: string, samples: Sample[]): number {
  if (samples.length === 1) return samples[0]!.value;
  if (KV_USAGE_NAMES.includes(name)) {
    const blocks = new Map<string, number>();
    for (const s of page.families.get('vllm:cache_config_info')?.samples ?? []) {
      const nb = Number(s.labels.num_gpu_blocks);
      if (s.labels.engine !== undefined && Number.isFinite(nb) && nb > 0) blocks.set(s.labels.engine, nb);
    }
    const w = samples.map((s) => (s.labels.engine !== undefined ? blocks.get(s.labels.engine) : undefined));
    if (w.every((x): x is number => x !== undefined)) {
      const total = w.reduce((a, b) => a + b, 0);
      return samples.reduce((a, s, i) => a + s.value * w[i]!, 0) / total;
    }
    return samples.reduce((a, s) => a + s.value, 0) / samples.length;
  }
  return samples.reduce((a, s) => a + s.value, 0);
}

function csvCell(v: number): string {
  return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function openOut(path: string, header: string): number {
  if (existsSync(path) && statSync(path).size > 0) {
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(Math.min(4096, statSync(path).size));
    readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    const first = buf.toString('utf8').split('\n')[0]!.replace(/\r$/, '');
    if (first !== header)
      throw new ServelabError('BAD_FILE', `${path} exists with another header ("${first.slice(0, 80)}")`, {
        hint: 'give a new --out file, or remove the old one',
      });
    return openSync(path, 'a');
  }
  const fd = openSync(path, 'a');
  writeSync(fd, `${header}\n`);
  return fd;
}

/** Starts sampling at once (the first tick is now). */
export function startSampler(opts: SamplerOptions): SamplerHandle {
  const intervalMs = opts.intervalMs ?? 5000;
  if (!(intervalMs >= 100))
    throw new ServelabError('BAD_FLAG', `sampling interval ${intervalMs} ms is below 100 ms`, {
      hint: 'use --interval 100ms or more',
    });
  if (opts.targets.length === 0) throw new ServelabError('BAD_FLAG', 'no endpoints to sample');
  const timeoutMs = Math.max(50, Math.min(opts.timeoutMs ?? intervalMs * 0.8, intervalMs * 0.95, 10_000));
  const metrics = opts.metrics && opts.metrics.length > 0 ? opts.metrics : [...DEFAULT_SAMPLER_METRICS];
  const clock = opts.clock ?? realClock;
  const fetchText = opts.fetchText ?? fetchTextUndici;
  const fetchPage = fetchText.page;
  const scrub = opts.scrub ?? ((t: string) => t);
  const onNote = opts.onNote;
  const note = (n: string) => onNote?.(scrub(n));
  const columns = opts.targets.flatMap((t) => metrics.map((m) => `${t.port}:${m}`));
  const header = opts.wide ? `ts_iso,ts_unix,${columns.join(',')}` : TIMESERIES_HEADER;
  let fd: number | undefined = openOut(opts.out, header);

  const states: TargetState[] = opts.targets.map((t) => {
    const origin = serverOrigin(t.url);
    const label = t.label ?? origin.replace(/^https?:\/\//, '');
    return {
      target: t,
      metricsUrl: `${origin}/metrics`,
      label,
      inFlight: false,
      down: false,
      downSinceMs: 0,
      missedWhileDown: 0,
      missingNoted: new Set(),
      stats: { label, port: t.port, ok: 0, failed: 0, outages: 0 },
    };
  });
  const stats: SamplerStats = {
    ticks: 0,
    rows: 0,
    missedTicks: 0,
    skippedInFlight: 0,
    targets: states.map((s) => s.stats),
    out: opts.out,
  };
  const stopCtl = new AbortController();
  const pending = new Set<Promise<void>>();

  function write(text: string, rows: number): void {
    if (fd === undefined) return;
    writeSync(fd, scrub(text));
    stats.rows += rows;
  }

  async function sampleTarget(st: TargetState, tickUnixMs: number): Promise<(number | undefined)[]> {
    const values: (number | undefined)[] = metrics.map(() => undefined);
    if (st.inFlight) {
      stats.skippedInFlight++;
      return values;
    }
    st.inFlight = true;
    try {
      const req = { timeoutMs, signal: stopCtl.signal, ...(opts.headers ? { headers: opts.headers } : {}) };
      // an in-process server hands over its page parsed (the same result as parsing its text)
      const r = fetchPage ? await fetchPage(st.metricsUrl, req) : await fetchText(st.metricsUrl, req);
      if (stopCtl.signal.aborted) return values;
      let failure: string | undefined;
      let page: ParsedPage | undefined;
      if (!r.ok) failure = `${r.kind}: ${r.message}`;
      else {
        const parsed = 'page' in r ? r.page : parsePrometheusText(r.text);
        if (parsed.ok) page = parsed.page;
        else failure = `not Prometheus text: ${formatParseFailure(parsed.error, st.metricsUrl)}`;
      }
      if (!page) {
        st.stats.failed++;
        if (!st.down) {
          st.down = true;
          st.downSinceMs = tickUnixMs;
          st.missedWhileDown = 0;
          st.stats.outages++;
          note(`${st.label}: /metrics not answering (${failure}); leaving a gap until it answers again`);
        }
        st.missedWhileDown++;
        return values;
      }
      st.stats.ok++;
      if (st.down) {
        st.down = false;
        note(
          `${st.label}: /metrics answering again after ${st.missedWhileDown} missed sample(s) (${((tickUnixMs - st.downSinceMs) / 1000).toFixed(1)} s gap)`,
        );
      }
      const lines: string[] = [];
      metrics.forEach((m, i) => {
        const v = valueOnPage(page, m);
        if (!v) {
          if (!st.missingNoted.has(m)) {
            st.missingNoted.add(m);
            note(`${st.label}: no metric "${m}" (nor its other names) on /metrics; that column stays empty`);
          }
          return;
        }
        values[i] = v.value;
        if (opts.wide) return;
        const row = (metric: string, value: number) =>
          lines.push(sampleToCsvLine({ tsUnixS: tickUnixMs / 1000, port: st.target.port, metric, value }));
        // engines first, the port's combined value last: a reader of the file's tail
        // (the run's progress line) that keeps the last row per port sees the combined value
        for (const e of v.engines) row(engineMetricName(v.name, e.label, e.engine), e.value);
        row(v.name, v.value);
      });
      if (lines.length > 0) write(`${lines.join('\n')}\n`, lines.length);
      return values;
    } finally {
      st.inFlight = false;
    }
  }

  async function tick(tickUnixMs: number): Promise<void> {
    const results = await Promise.all(states.map((st) => sampleTarget(st, tickUnixMs)));
    if (opts.wide && !stopCtl.signal.aborted && results.some((r) => r.some((v) => v !== undefined))) {
      const cells = results.flatMap((r) => r.map((v) => (v === undefined ? '' : csvCell(v))));
      write(
        `${new Date(tickUnixMs).toISOString()},${(tickUnixMs / 1000).toFixed(3)},${cells.join(',')}\n`,
        1,
      );
    }
  }

  async function loop(): Promise<void> {
    const t0 = clock.nowUnixMs();
    let k = 0;
    while (!stopCtl.signal.aborted) {
      const due = t0 + k * intervalMs;
      if (opts.durationMs !== undefined && due - t0 > opts.durationMs) break;
      if (opts.maxTicks !== undefined && stats.ticks >= opts.maxTicks) break;
      await clock.sleepUntil(due, stopCtl.signal);
      if (stopCtl.signal.aborted) break;
      const now = clock.nowUnixMs();
      const behind = Math.floor((now - due) / intervalMs);
      if (behind >= 1) {
        // the process was blocked past whole intervals: skip them rather than burst
        stats.missedTicks += behind;
        k += behind;
        continue;
      }
      stats.ticks++;
      const p = tick(now).catch((err: unknown) => note(`sampler: ${(err as Error)?.message ?? err}`));
      pending.add(p);
      void p.finally(() => pending.delete(p));
      k++;
    }
    await Promise.all([...pending]);
  }

  let finished: SamplerStats | undefined;
  const done = loop().then(() => {
    if (fd !== undefined) {
      closeSync(fd);
      fd = undefined;
    }
    finished = stats;
    return stats;
  });
  return {
    done,
    async stop() {
      if (finished) return finished;
      stopCtl.abort();
      return done;
    },
  };
}

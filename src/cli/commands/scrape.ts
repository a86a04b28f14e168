/**
 * `servelab scrape`: the KV / metrics sampler on its own, beside any driver (WORKFLOWS.md W1/W2):
 * `ts_iso,ts_unix,port,metric,value` rows, flushed as they come, stopped cleanly by Ctrl-C.
 * A port with several engines gets one row per engine (`name{engine="n"}`) and the combined row.
 * With --prometheus-url it reads the same series from an existing Prometheus instead (appended
 * to --out as well).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseUrlFlag } from '../../config/host.js';
import { secretsFromUrl } from '../../config/secrets.js';
import { EXIT, ServelabError } from '../../errors.js';
import { readFromPrometheus, startSampler, writeTimeseriesCsv } from '../../metrics/index.js';
import { endpointsFromFlags, parseDurationMs, splitList } from '../../preflight/flags.js';
import { addServerAuthOptions, type ServerAuthFlags, serverAuth } from '../server-auth.js';
import type { CommandContext } from './index.js';

interface ScrapeFlags extends ServerAuthFlags {
  url?: string[];
  config?: string;
  model?: string[];
  interval: string;
  out: string;
  duration?: string;
  metrics?: string[];
  wide?: boolean;
  prometheusUrl?: string;
  start?: string;
  end?: string;
  step?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

const TEN_YEARS_MS = 10 * 365 * 86_400_000;

/** "now", "-1h" (relative to now), unix seconds, or an ISO date. */
export function parseTimeS(text: string, flag: string, nowS: number): number {
  const t = text.trim();
  if (t === 'now') return nowS;
  const rel = /^-(\d+(?:\.\d+)?(?:ms|s|m|h)?)$/.exec(t);
  if (rel) return nowS - parseDurationMs(rel[1]!, flag, { zero: true, maxMs: TEN_YEARS_MS }) / 1000;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  if (Number.isNaN(ms))
    throw new ServelabError('BAD_FLAG', `${flag} "${text}" is not a time`, {
      hint: 'give now, -1h, unix seconds, or an ISO date like 2026-11-22T08:00:00Z',
    });
  return ms / 1000;
}

async function prometheusAction(f: ScrapeFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const nowS = Date.now() / 1000;
  const endS = parseTimeS(f.end ?? 'now', '--end', nowS);
  const startS = parseTimeS(f.start ?? '-1h', '--start', nowS);
  if (!(startS < endS)) throw new ServelabError('BAD_FLAG', '--start must be before --end');
  const stepS = parseDurationMs(f.step ?? f.interval, '--step') / 1000;
  const ports = f.url || f.config ? endpointsFromFlags(f, io.cwd).endpoints.map((e) => e.port) : undefined;
  const r = await readFromPrometheus({
    prometheusUrl: f.prometheusUrl!,
    startUnixS: startS,
    endUnixS: endS,
    stepS,
    ...(f.metrics ? { metrics: splitList(f.metrics) } : {}),
    ...(ports ? { ports } : {}),
  });
  const out = resolve(io.cwd, f.out);
  writeTimeseriesCsv(out, r.samples);
  for (const [m, found] of Object.entries(r.namesFound))
    io.stderr(found ? `${m}: read as ${found}\n` : `${m}: Prometheus has none of its names in that range\n`);
  if (r.dcgmFound.length > 0) io.stderr(`GPU series (DCGM): ${r.dcgmFound.join(', ')}\n`);
  io.stderr(`appended ${r.samples.length} rows to ${out}\n`);
  return r.samples.length > 0 ? EXIT.ok : EXIT.failed;
}

async function scrapeAction(f: ScrapeFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  // keys first: every line printed or written from here on is scrubbed of them
  const { headers, secrets } = serverAuth(f, io);
  if (f.prometheusUrl) secrets.addAll(secretsFromUrl(f.prometheusUrl));
  if (f.prometheusUrl) {
    parseUrlFlag(f.prometheusUrl, '--prometheus-url');
    return prometheusAction(f, ctx);
  }
  const { endpoints, notes } = endpointsFromFlags(f, io.cwd);
  for (const n of notes) io.stderr(`note: ${n}\n`);
  const intervalMs = parseDurationMs(f.interval, '--interval');
  const durationMs = f.duration ? parseDurationMs(f.duration, '--duration') : undefined;
  const out = resolve(io.cwd, f.out);
  const metrics = splitList(f.metrics);
  const stamp = () => new Date().toISOString();
  const handle = startSampler({
    targets: endpoints.map((e) => ({ url: e.url, port: e.port, label: e.label })),
    intervalMs,
    out,
    ...(metrics.length > 0 ? { metrics } : {}),
    ...(f.wide ? { wide: true } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    scrub: (t) => secrets.scrub(t),
    onNote: (n) => io.stderr(`${stamp()} ${n}\n`),
  });
  io.stderr(
    `${stamp()} sampling ${endpoints.map((e) => e.label).join(', ')} every ${intervalMs} ms into ${out}${durationMs !== undefined ? ` for ${durationMs / 1000} s` : ' until Ctrl-C'}\n`,
  );
  const onAbort = () => void handle.stop();
  io.signal.addEventListener('abort', onAbort, { once: true });
  const stats = await handle.done;
  io.signal.removeEventListener('abort', onAbort);
  const outages = stats.targets.reduce((a, t) => a + t.outages, 0);
  io.stderr(
    `${stamp()} wrote ${stats.rows} rows in ${stats.ticks} ticks to ${out}${outages ? `; ${outages} outage(s)` : ''}${stats.missedTicks ? `; ${stats.missedTicks} tick(s) missed (process blocked)` : ''}\n`,
  );
  return io.signal.aborted ? EXIT.interrupted : EXIT.ok;
}

export function registerScrape(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('scrape')
    .description(
      'sample server /metrics (KV-cache usage by default) into ts_iso,ts_unix,port,metric,value CSV',
    )
    .addHelpText(
      'after',
      [
        '',
        'A port with several engines (vLLM --data-parallel-size N behind one port) gets one row per',
        'engine, the metric carrying its label (vllm:kv_cache_usage_perc{engine="1"}), and one row under',
        "the bare name with the port's combined value: KV usage = used / total blocks (the engines'",
        'usage weighted by num_gpu_blocks from vllm:cache_config_info; the mean when the page lacks it,',
        'the same for equal pools); other metrics = the sum. `servelab analyze --kv-engine max|combined|<n>`',
        'chooses the series of the active window (default max: the fullest engine). Formats: docs/FORMATS.md.',
      ].join('\n'),
    )
    .option('--url <url>', 'a server to sample, e.g. http://127.0.0.1:1900 (repeatable)', collect)
    .option('--config <file>', 'the model-config JSON (model -> [{ip_addr, port}]): sample its endpoints')
    .option('--model <name>', 'with --config: only this model (repeatable)', collect)
    .option('--interval <dur>', 'sampling interval (100ms or more)', '5s')
    .option(
      '--out <file>',
      'CSV file, appended to when it exists with the same header (also with --prometheus-url)',
      'kv_cache_timeseries.csv',
    )
    .option('--duration <dur>', 'stop after this long (default: until Ctrl-C)')
    .option(
      '--metrics <names>',
      'metric names as the server reports them, comma-separated or repeated (default vllm:kv_cache_usage_perc; V0 / SGLang names are fallbacks)',
      collect,
    )
    .option('--wide', "one row per tick with a column per port:metric (the port's combined values only)")
    .option(
      '--prometheus-url <url>',
      'read from this Prometheus (query_range) instead of scraping the servers',
    )
    .option('--start <time>', 'with --prometheus-url: now, -1h, unix seconds or ISO (default -1h)')
    .option('--end <time>', 'with --prometheus-url: (default now)')
    .option('--step <dur>', 'with --prometheus-url: resolution (default --interval)');
  addServerAuthOptions(cmd, '/metrics').action(async (flags: ScrapeFlags) => {
    ctx.setExit(await scrapeAction(flags, ctx));
  });
}

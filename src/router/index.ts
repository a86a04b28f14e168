/**
 * The program-aware router as a real HTTP proxy (`servelab sim --router`): the pure core
 * (core.ts) on a real-time clock, the node:http front (proxy.ts), and a scrape loop that reads
 * every backend's /metrics each interval and then runs one scheduling tick, as ThunderAgent's
 * scheduler loop does (default every 5 s).
 *
 *   const r = await startRouter({ backends: ['http://127.0.0.1:8001', 'http://127.0.0.1:8002'], port: 0 });
 *   r.url  // http://127.0.0.1:<port>; clients add program_id to each call, POST /programs/release at the end
 *   await r.close();
 */
import type { AddressInfo } from 'node:net';
import { ServelabError } from '../errors.js';
import { type FetchText, fetchTextUndici } from '../metrics/fetch.js';
import { RealClock } from '../sim/clock.js';
import type { Clock } from '../sim/engine-api.js';
import { readBackendPage } from './backend-page.js';
import { RouterCore, type RouterMode } from './core.js';
import type { Placement } from './placement.js';
import { createRouterServer } from './proxy.js';

export { ROUTER_MODES, RouterCore, type RouterMode } from './core.js';
export { BACKEND_HEADER, QUEUE_MS_HEADER } from './proxy.js';

export interface StartRouterOptions {
  /** backend base URLs (`http://host:port`, a trailing /v1 is dropped) */
  backends: readonly string[];
  host?: string;
  /** 0 = a free port (default 0) */
  port?: number;
  mode?: RouterMode;
  placement?: Placement;
  decodeReserveTokens?: number;
  kvPauseAtFrac?: number;
  kvResumeBelowFrac?: number;
  /** scrape + scheduling tick interval (default 5000 ms, ThunderAgent's scheduler_interval) */
  intervalMs?: number;
  maxBodyBytes?: number;
  /** default: a real-time clock */
  clock?: Clock;
  fetchText?: FetchText;
  log?: (line: string) => void;
}

export interface RouterServer {
  url: string;
  port: number;
  core: RouterCore;
  /** scrape every backend and run one tick now (tests; the loop does this each interval) */
  tickNow(): Promise<void>;
  close(): Promise<void>;
}

export function normalizeBackendUrl(u: string): string {
  return u.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
}

export async function startRouter(o: StartRouterOptions): Promise<RouterServer> {
  const urls = o.backends.map(normalizeBackendUrl);
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+$/.test(u))
      throw new ServelabError('BAD_FLAG', `router backend "${u}" is not an http://host:port URL`, {
        hint: 'e.g. --backends http://127.0.0.1:8001,http://127.0.0.1:8002',
      });
  }
  if (urls.length === 0)
    throw new ServelabError('BAD_FLAG', 'the router needs at least one backend', {
      hint: 'give --backends http://host:port[,...], or --model with --dp N to start simulated ones',
    });
  if (new Set(urls).size !== urls.length)
    throw new ServelabError('BAD_FLAG', `router backends listed twice: ${urls.join(', ')}`, {
      hint: 'list each backend once',
    });
  const ownClock = o.clock === undefined;
  const clock = o.clock ?? new RealClock();
  const fetchText = o.fetchText ?? fetchTextUndici;
  const intervalMs = o.intervalMs ?? 5000;
  const core = new RouterCore({
    clock,
    backends: urls,
    ...(o.mode ? { mode: o.mode } : {}),
    ...(o.placement ? { placement: o.placement } : {}),
    ...(o.decodeReserveTokens !== undefined ? { decodeReserveTokens: o.decodeReserveTokens } : {}),
    ...(o.kvPauseAtFrac !== undefined ? { kvPauseAtFrac: o.kvPauseAtFrac } : {}),
    ...(o.kvResumeBelowFrac !== undefined ? { kvResumeBelowFrac: o.kvResumeBelowFrac } : {}),
  });
  const lastScrape = new Map<string, string>();

  const scrape = async (u: string): Promise<string | undefined> => {
    const r = await fetchText(`${u}/metrics`, { timeoutMs: Math.max(1000, Math.min(intervalMs, 10_000)) });
    if (!r.ok) {
      core.updateBackend(u, { healthy: false });
      return `${u}/metrics: ${r.message}`;
    }
    const page = readBackendPage(r.text);
    if (!page.ok) {
      core.updateBackend(u, { healthy: false });
      return `${u}/metrics is not Prometheus text (${page.message})`;
    }
    core.updateBackend(u, { healthy: true, ...page.page });
    if (page.page.capacityTokens === undefined) return `${u}/metrics has no vllm:cache_config_info`;
    return undefined;
  };
  const scrapeAll = async () => {
    const problems = await Promise.all(urls.map(scrape));
    urls.forEach((u, i) => {
      const p = problems[i];
      if (p) lastScrape.set(u, p);
      else lastScrape.delete(u);
    });
    return problems.filter((p): p is string => p !== undefined);
  };

  const first = await scrapeAll();
  const down = first.filter((p) => !p.includes('has no vllm:cache_config_info'));
  if (down.length > 0)
    throw new ServelabError('NOT_READY', `router: backend not ready\n  ${down.join('\n  ')}`, {
      hint: 'start the backends first (or wait for their /health), and check --backends',
      exitCode: 1,
    });
  for (const p of first) o.log?.(`router: warning: ${p}; without KV capacity it forwards without pausing`);

  let stopped = false;
  let cancelNext: (() => void) | undefined;
  let running: Promise<void> | undefined;
  const tickNow = async () => {
    await scrapeAll();
    core.tick();
  };
  const loop = () => {
    if (stopped) return;
    running = tickNow()
      .catch((e: unknown) => o.log?.(`router: tick failed: ${(e as Error).message}`))
      .finally(() => {
        running = undefined;
        if (!stopped) cancelNext = clock.schedule(clock.nowMs() + intervalMs, loop);
      });
  };
  cancelNext = clock.schedule(clock.nowMs() + intervalMs, loop);

  const server = createRouterServer({
    core,
    backendUrl: (id) => id,
    defaultBackend: () => core.stats().backends.find((b) => b.healthy)?.id ?? urls[0]!,
    ...(o.maxBodyBytes !== undefined ? { maxBodyBytes: o.maxBodyBytes } : {}),
    describe: () => ({
      router: 'servelab program-aware router',
      interval_ms: intervalMs,
      scrape_problems: Object.fromEntries(lastScrape),
    }),
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((res, rej) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      rej(
        new ServelabError(
          'LAUNCH_FAILED',
          `router: port ${o.port ?? 0} on ${host} ${e.code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${e.code ?? e.message})`}`,
          { hint: 'pick another --port, or stop whatever listens there', cause: e },
        ),
      ),
    );
    server.listen(o.port ?? 0, host, () => res());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  o.log?.(
    `router (${core.mode}) on ${url} in front of ${urls.join(', ')}; scrape + tick every ${intervalMs} ms`,
  );
  return {
    url,
    port,
    core,
    tickNow,
    close: async () => {
      stopped = true;
      cancelNext?.();
      await running;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      if (ownClock && clock instanceof RealClock) clock.stop();
    },
  };
}

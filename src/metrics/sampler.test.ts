import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FetchText } from './fetch.js';
import { type SamplerClock, startSampler } from './sampler.js';
import { type PageServer, startPageServer } from './testing/page-server.js';
import { DEFAULT_VLLM_STATE, sglangPage, vllmPage } from './testing/pages.js';
import { TIMESERIES_HEADER } from './timeseries.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'servelab-sampler-'));

/** Virtual time: sleeping jumps the clock to the due time. */
function fakeClock(startMs: number): SamplerClock & { t: number } {
  const c = {
    t: startMs,
    nowUnixMs: () => c.t,
    sleepUntil: async (due: number) => {
      c.t = Math.max(c.t, due);
      await Promise.resolve();
    },
  };
  return c;
}

const rows = (path: string) => readFileSync(path, 'utf8').trim().split('\n');

describe('sampler with an injected clock and fetch', () => {
  it('ticks on absolute times, one row per endpoint per metric, gaps and one note per outage', async () => {
    const out = join(tmp(), 'kv.csv');
    const clock = fakeClock(1_700_000_000_000);
    let calls = 0;
    const fetchText: FetchText = async (url) => {
      calls++;
      const k = Math.round((clock.t - 1_700_000_000_000) / 5000);
      if (url.includes(':1911') && k >= 2 && k <= 4)
        return { ok: false, kind: 'refused', message: 'connection refused' };
      return { ok: true, status: 200, text: url.includes(':1911') ? sglangPage(0.5) : vllmPage() };
    };
    const notes: string[] = [];
    const h = startSampler({
      targets: [
        { url: 'http://127.0.0.1:1910', port: 1910 },
        { url: 'http://127.0.0.1:1911/v1', port: 1911 },
      ],
      metrics: ['vllm:kv_cache_usage_perc', 'vllm:num_requests_running'],
      out,
      maxTicks: 8,
      clock,
      fetchText,
      onNote: (n) => notes.push(n),
    });
    const stats = await h.done;
    expect(stats.ticks).toBe(8);
    expect(calls).toBe(16);
    const lines = rows(out);
    expect(lines[0]).toBe(TIMESERIES_HEADER);
    // 1910 (two engines): 8 ticks x 2 metrics x (2 engines + combined); 1911 (one engine): 5 ticks x 2
    // (SGLang names written as the server reports them)
    expect(lines.length - 1).toBe(48 + 10);
    expect(stats.rows).toBe(58);
    expect(lines.slice(1, 4)).toEqual([
      '2023-11-14T22:13:20.000Z,1700000000.000,1910,vllm:kv_cache_usage_perc{engine="0"},0.25',
      '2023-11-14T22:13:20.000Z,1700000000.000,1910,vllm:kv_cache_usage_perc{engine="1"},0.75',
      // used / total blocks: (0.25 x 1000 + 0.75 x 3000) / 4000
      '2023-11-14T22:13:20.000Z,1700000000.000,1910,vllm:kv_cache_usage_perc,0.625',
    ]);
    expect(lines).toContain('2023-11-14T22:13:20.000Z,1700000000.000,1911,sglang:token_usage,0.5');
    expect(lines).toContain('2023-11-14T22:13:25.000Z,1700000005.000,1910,vllm:num_requests_running,8');
    const ts1911 = lines.filter((l) => l.includes(',1911,sglang:token_usage')).map((l) => l.split(',')[1]);
    expect(ts1911).toEqual([
      '1700000000.000',
      '1700000005.000',
      '1700000025.000',
      '1700000030.000',
      '1700000035.000',
    ]);
    expect(notes.filter((n) => n.includes('not answering'))).toHaveLength(1);
    expect(notes.find((n) => n.includes('answering again'))).toMatch(/3 missed sample\(s\) \(15\.0 s gap\)/);
    expect(stats.targets[1]).toMatchObject({ port: 1911, ok: 5, failed: 3, outages: 1 });
  });

  it('skips ticks it was too blocked to run instead of bursting, and never overlaps a slow target', async () => {
    const out = join(tmp(), 'kv.csv');
    const clock = fakeClock(0);
    let n = 0;
    const fetchText: FetchText = async () => {
      n++;
      if (n === 3) clock.t += 3500; // the event loop was blocked 3.5 intervals
      return { ok: true, status: 200, text: vllmPage() };
    };
    const stats = await startSampler({
      targets: [{ url: 'http://127.0.0.1:1', port: 1 }],
      intervalMs: 1000,
      out,
      durationMs: 9000,
      clock,
      fetchText,
    }).done;
    // due at 3 s and 4 s: missed; due at 5 s: run at 5.5 s (less than an interval late); then on the grid again
    expect(stats.missedTicks).toBe(2);
    expect(stats.ticks + stats.missedTicks).toBe(10);
    const ts = rows(out)
      .slice(1)
      .filter((l) => l.split(',')[3] === 'vllm:kv_cache_usage_perc')
      .map((l) => Number(l.split(',')[1]));
    expect(ts).toEqual([0, 1, 2, 5.5, 6, 7, 8, 9]);
  });

  it('falls back across names, notes a metric missing from a page once, wide CSV', async () => {
    const out = join(tmp(), 'wide.csv');
    const clock = fakeClock(0);
    const notes: string[] = [];
    await startSampler({
      targets: [
        { url: 'http://a:1', port: 1 },
        { url: 'http://b:2', port: 2 },
      ],
      metrics: ['vllm:kv_cache_usage_perc', 'vllm:num_preemptions_total'],
      intervalMs: 100,
      out,
      wide: true,
      maxTicks: 3,
      clock,
      fetchText: async (url) => ({
        ok: true,
        status: 200,
        text: url.includes('//a') ? vllmPage(DEFAULT_VLLM_STATE, 'v0') : 'other_metric 1\n',
      }),
      onNote: (n) => notes.push(n),
    }).done;
    const lines = rows(out);
    expect(lines[0]).toBe(
      'ts_iso,ts_unix,1:vllm:kv_cache_usage_perc,1:vllm:num_preemptions_total,2:vllm:kv_cache_usage_perc,2:vllm:num_preemptions_total',
    );
    expect(lines).toHaveLength(4);
    expect(lines[1]).toBe('1970-01-01T00:00:00.000Z,0.000,0.625,6,,');
    expect(notes.filter((x) => x.includes('no metric'))).toHaveLength(2);
  });

  it('refuses an existing file with another header, appends to one with the same', async () => {
    const dir = tmp();
    const out = join(dir, 'kv.csv');
    writeFileSync(out, 'a,b,c\n1,2,3\n');
    expect(() => startSampler({ targets: [{ url: 'http://a:1', port: 1 }], out })).toThrow(/another header/);
    const ok = join(dir, 'ok.csv');
    writeFileSync(ok, `${TIMESERIES_HEADER}\n`);
    await startSampler({
      targets: [{ url: 'http://a:1', port: 1 }],
      out: ok,
      maxTicks: 1,
      clock: fakeClock(0),
      fetchText: async () => ({ ok: true, status: 200, text: vllmPage() }),
    }).done;
    expect(rows(ok)).toHaveLength(4); // header, two engines, combined
    expect(() =>
      startSampler({ targets: [{ url: 'http://a:1', port: 1 }], out: ok, intervalMs: 50 }),
    ).toThrow(/100 ms/);
  });
});

describe('sampler against a real server on port 0', () => {
  let srv: PageServer | undefined;
  afterEach(async () => {
    await srv?.close().catch(() => {});
    srv = undefined;
  });

  it('a slow endpoint times out within the interval and never delays a fast one', async () => {
    const fast = await startPageServer({ page: () => vllmPage() });
    const slow = await startPageServer({ page: () => vllmPage(), delayMs: 1000 });
    const out = join(tmp(), 'kv.csv');
    const notes: string[] = [];
    const h = startSampler({
      targets: [
        { url: fast.url, port: fast.port },
        { url: slow.url, port: slow.port },
      ],
      intervalMs: 100,
      out,
      onNote: (n) => notes.push(n),
    });
    await new Promise((r) => setTimeout(r, 650));
    const stats = await h.stop();
    await fast.close();
    await slow.close();
    const ts = rows(out)
      .slice(1)
      .filter((l) => l.includes(`,${fast.port},`))
      .map((l) => Number(l.split(',')[1]));
    expect(ts.length).toBeGreaterThanOrEqual(4);
    // ticks stay on the 100 ms grid (within scheduling jitter), not pushed back by the slow target
    const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
    expect(Math.max(...gaps)).toBeLessThan(0.25);
    expect(rows(out).some((l) => l.includes(`,${slow.port},`))).toBe(false);
    expect(notes.filter((n) => n.includes(`${slow.port}: /metrics not answering (timeout`))).toHaveLength(1);
    expect(stats.targets[1]!.ok).toBe(0);
  });

  it('writes rows at 100 ms, leaves a gap while the server is down, resumes when it returns; stop() flushes', async () => {
    let kv = 0.1;
    srv = await startPageServer({ page: () => vllmPage({ ...DEFAULT_VLLM_STATE, kv: [kv, kv] }) });
    const out = join(tmp(), 'kv.csv');
    const notes: string[] = [];
    const h = startSampler({
      targets: [{ url: srv.url, port: srv.port, label: 'orchestrator' }],
      intervalMs: 100,
      out,
      onNote: (n) => notes.push(n),
    });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await sleep(450);
    await srv.close();
    await sleep(450);
    kv = 0.9;
    await srv.reopen();
    await sleep(450);
    const stats = await h.stop();
    expect(await h.stop()).toBe(stats);
    const lines = rows(out).slice(1);
    expect(lines.length).toBe(stats.rows);
    const vals = lines.map((l) => Number(l.split(',')[4]));
    expect(vals.filter((v) => v === 0.1).length).toBeGreaterThanOrEqual(3);
    expect(vals.filter((v) => v === 0.9).length).toBeGreaterThanOrEqual(2);
    const ts = lines.map((l) => Number(l.split(',')[1]));
    const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
    expect(Math.max(...gaps)).toBeGreaterThan(0.35);
    expect(notes.filter((n) => n.startsWith('orchestrator: /metrics not answering'))).toHaveLength(1);
    expect(notes.filter((n) => n.includes('answering again'))).toHaveLength(1);
    expect(stats.targets[0]!.outages).toBe(1);
    expect(stats.ticks).toBeGreaterThanOrEqual(10);
  });
});

/**
 * A port with two vLLM engines (`vllm serve --data-parallel-size 2` behind one API server): the
 * page carries one series per engine (engine="0", engine="1") and one vllm:cache_config_info per
 * engine with the same num_gpu_blocks (vLLM 0.11 labels every engine with the one cache config).
 * Nothing may be averaged away: one row per engine and the combined row, and the analysis reads
 * the series it is told to.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { activeWindow } from '../analysis/kv-window.js';
import { parseTimeseriesCsv } from '../analysis/load.js';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { EXIT } from '../errors.js';
import { parsePrometheusText } from './parse.js';
import { startSampler, valueOnPage } from './sampler.js';
import { type PageServer, startPageServer } from './testing/page-server.js';
import { DEFAULT_VLLM_STATE, type VllmPageState, vllmPage } from './testing/pages.js';
import { TIMESERIES_HEADER } from './timeseries.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'servelab-engines-'));

/** Two engines with equal KV pools (as vLLM's DP engines have), engine 0 at 80 %, engine 1 at 42 %. */
const DP2: VllmPageState = {
  ...DEFAULT_VLLM_STATE,
  kv: [0.8, 0.42],
  running: [7, 2],
  numGpuBlocks: [5437, 5437],
};

const page = (text: string) => {
  const r = parsePrometheusText(text);
  if (!r.ok) throw new Error('test page does not parse');
  return r.page;
};

describe('valueOnPage with two engines', () => {
  it('KV: each engine, and combined as used / total blocks (weighted by num_gpu_blocks)', () => {
    const equal = valueOnPage(page(vllmPage(DP2)), 'vllm:kv_cache_usage_perc')!;
    expect(equal.engines).toEqual([
      { label: 'engine', engine: '0', value: 0.8 },
      { label: 'engine', engine: '1', value: 0.42 },
    ]);
    expect(equal.value).toBeCloseTo(0.61, 12);
    // unequal pools (1000 and 3000 blocks): 800 + 1260 used of 4000
    const unequal = valueOnPage(
      page(vllmPage({ ...DP2, numGpuBlocks: [1000, 3000] })),
      'vllm:kv_cache_usage_perc',
    )!;
    expect(unequal.value).toBeCloseTo((0.8 * 1000 + 0.42 * 3000) / 4000, 12);
    // a page without vllm:cache_config_info: the plain mean (right for equal pools)
    const noInfo = vllmPage({ ...DP2, numGpuBlocks: [1000, 3000] })
      .split('\n')
      .filter((l) => !l.includes('vllm:cache_config_info'))
      .join('\n');
    expect(valueOnPage(page(noInfo), 'vllm:kv_cache_usage_perc')!.value).toBeCloseTo(0.61, 12);
  });

  it('queues and counters: each engine, combined as the sum; one engine gives no per-engine values', () => {
    const running = valueOnPage(page(vllmPage(DP2)), 'vllm:num_requests_running')!;
    expect(running.value).toBe(9);
    expect(running.engines.map((e) => e.value)).toEqual([7, 2]);
    const one = vllmPage(DP2)
      .split('\n')
      .filter((l) => !l.includes('engine="1"'))
      .join('\n');
    const single = valueOnPage(page(one), 'vllm:kv_cache_usage_perc')!;
    expect(single).toEqual({ name: 'vllm:kv_cache_usage_perc', value: 0.8, engines: [] });
  });
});

describe('sampler and scrape against a two-engine page on a loopback socket', () => {
  let srv: PageServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  it('servelab scrape writes one row per engine and the combined row; the active window follows --kv-engine', async () => {
    srv = await startPageServer({ page: () => vllmPage(DP2) });
    const dir = tmp();
    const { io, err } = captureIo({ cwd: dir });
    const code = await runMain(
      ['scrape', '--url', srv.url, '--interval', '100ms', '--duration', '250ms', '--out', 'kv.csv'],
      io,
    );
    expect(code, err.join('')).toBe(EXIT.ok);
    const text = readFileSync(join(dir, 'kv.csv'), 'utf8');
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe(TIMESERIES_HEADER);
    const body = lines.slice(1);
    expect(body.length).toBeGreaterThanOrEqual(6);
    expect(body.length % 3).toBe(0);
    // per tick: engine 0, engine 1, then the combined row, all at the tick's time
    for (let i = 0; i < body.length; i += 3) {
      const [a, b, c] = [body[i]!, body[i + 1]!, body[i + 2]!].map((l) => l.split(','));
      expect(a![1]).toBe(c![1]);
      expect(b![1]).toBe(c![1]);
      expect([a![2], a![3], a![4]]).toEqual([
        String(srv.port),
        'vllm:kv_cache_usage_perc{engine="0"}',
        '0.8',
      ]);
      expect([b![2], b![3], b![4]]).toEqual([
        String(srv.port),
        'vllm:kv_cache_usage_perc{engine="1"}',
        '0.42',
      ]);
      expect(c![3]).toBe('vllm:kv_cache_usage_perc');
      expect(Number(c![4])).toBeCloseTo(0.61, 12);
    }
    // the analysis reads the same file: max over engines is above 0.7, the combined row is not
    const { samples, skipped } = parseTimeseriesCsv(text);
    expect(skipped).toBe(0);
    const max = activeWindow(samples);
    expect(max.engine).toEqual({ asked: 'max', used: 'max', engines: ['0', '1'] });
    expect(max.status).toBe('ok');
    expect(max.peakValue).toBe(0.8);
    expect(activeWindow(samples, { engine: 'combined' }).status).toBe('never-above');
    expect(activeWindow(samples, { engine: 1 }).status).toBe('never-above');
    expect(activeWindow(samples, { engine: 0 }).samplesAbove).toBe(max.samplesAbove);
  });

  it('the in-run sampler (startSampler, as servelab run uses it) writes the same rows for every metric', async () => {
    srv = await startPageServer({ page: () => vllmPage(DP2) });
    const out = join(tmp(), 'kv_timeseries.csv');
    await startSampler({
      targets: [{ url: srv.url, port: srv.port, label: 'orchestrator' }],
      metrics: ['vllm:kv_cache_usage_perc', 'vllm:num_requests_running'],
      intervalMs: 100,
      maxTicks: 1,
      out,
    }).done;
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').slice(2).join(','));
    expect(rows.slice(0, 2)).toEqual([
      `${srv.port},vllm:kv_cache_usage_perc{engine="0"},0.8`,
      `${srv.port},vllm:kv_cache_usage_perc{engine="1"},0.42`,
    ]);
    expect(rows.slice(3)).toEqual([
      `${srv.port},vllm:num_requests_running{engine="0"},7`,
      `${srv.port},vllm:num_requests_running{engine="1"},2`,
      `${srv.port},vllm:num_requests_running,9`,
    ]);
  });

  it('--wide keeps one combined column per port:metric (its header is fixed before the first page)', async () => {
    srv = await startPageServer({ page: () => vllmPage(DP2) });
    const out = join(tmp(), 'wide.csv');
    await startSampler({
      targets: [{ url: srv.url, port: srv.port }],
      intervalMs: 100,
      maxTicks: 1,
      wide: true,
      out,
    }).done;
    const [header, row] = readFileSync(out, 'utf8').trim().split('\n');
    expect(header).toBe(`ts_iso,ts_unix,${srv.port}:vllm:kv_cache_usage_perc`);
    expect(Number(row!.split(',')[2])).toBeCloseTo(0.61, 12);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { fetchMetrics } from './fetch.js';
import { parsePrometheusText } from './parse.js';
import { candidatesFor, compareVersions, REGISTRY } from './registry.js';
import { canonicalize, diffSnapshots } from './snapshot.js';
import { type PageServer, startPageServer } from './testing/page-server.js';
import { DEFAULT_VLLM_STATE, sglangPage, vllmPage } from './testing/pages.js';

function snap(text: string, at = 0, version?: string) {
  const r = parsePrometheusText(text);
  if (!r.ok) throw new Error(r.error.message);
  return canonicalize(r.page, { url: 'x', fetchedAtUnixMs: at, ...(version ? { version } : {}) });
}

describe('canonical snapshots', () => {
  it('vLLM V1, two engines: per engine and combined (block-weighted KV)', () => {
    const s = snap(vllmPage());
    expect(s.kind).toBe('vllm');
    expect(Object.keys(s.engines).sort()).toEqual(['0', '1']);
    expect(s.engines['0']!.kvUsageFrac).toBe(0.25);
    expect(s.engines['1']!.running).toBe(5);
    expect(s.combined.running).toBe(8);
    expect(s.combined.waiting).toBe(1);
    expect(s.combined.preemptions).toBe(6);
    expect(s.combined.prefixQueries).toBe(4000);
    expect(s.combined.prefixHits).toBe(1600);
    expect(s.combined.promptTokens).toBe(12000);
    expect(s.combined.generationTokens).toBe(1700);
    // (0.25*1000 + 0.75*3000) / 4000
    expect(s.combined.kvUsageFrac).toBeCloseTo(0.625, 12);
    expect(s.kvCombine).toBe('block_weighted_mean');
    expect(s.engines['0']!.cacheConfig).toEqual({
      blockSize: 16,
      numGpuBlocks: 1000,
      gpuMemoryUtilization: 0.9,
    });
    expect(s.combined.cacheConfig!.numGpuBlocks).toBe(4000);
    expect(s.namesUsed.kvUsageFrac).toBe('vllm:kv_cache_usage_perc');
    expect(s.namesUsed.itl).toBe('vllm:inter_token_latency_seconds');
    const ttft = s.combined.ttft!;
    expect(ttft.count).toBe(27);
    expect(ttft.sum).toBe(2);
    expect(ttft.buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 27 });
    expect(ttft.buckets.map((b) => b.le)).toEqual([...ttft.buckets.map((b) => b.le)].sort((a, b) => a - b));
    expect(s.engines['1']!.e2e!.count).toBe(10);
  });

  it('falls back to V0 names and says which it used', () => {
    const s = snap(vllmPage(DEFAULT_VLLM_STATE, 'v0'));
    expect(s.namesUsed.kvUsageFrac).toBe('vllm:gpu_cache_usage_perc');
    expect(s.namesUsed.prefixHits).toBe('vllm:gpu_prefix_cache_hits');
    expect(s.namesUsed.itl).toBe('vllm:time_per_output_token_seconds');
    expect(s.combined.prefixHits).toBe(1600);
    expect(s.combined.itl!.count).toBe(72);
  });

  it('KV usage is a plain mean without num_gpu_blocks', () => {
    const text = vllmPage().replace(/^vllm:cache_config_info.*$/gm, '');
    const s = snap(text);
    expect(s.combined.kvUsageFrac).toBeCloseTo(0.5, 12);
    expect(s.kvCombine).toBe('mean');
  });

  it('SGLang names', () => {
    const s = snap(sglangPage(0.4, 3, 7));
    expect(s.kind).toBe('sglang');
    expect(s.combined).toMatchObject({
      kvUsageFrac: 0.4,
      running: 3,
      waiting: 7,
      preemptions: 3,
      prefixHits: 2e6,
    });
    expect(s.kvCombine).toBe('single');
    expect(s.combined.ttft!.count).toBe(5);
  });

  it('version orders name candidates', () => {
    expect(compareVersions('0.10.2', '0.9.2')).toBeGreaterThan(0);
    expect(compareVersions('0.11.0rc1', '0.11.0')).toBe(0);
    const names = (v: string) => candidatesFor(REGISTRY.vllm.gauges.kvUsageFrac, v).map((c) => c.name);
    expect(names('0.8.5')[0]).toBe('vllm:gpu_cache_usage_perc');
    expect(names('0.11.0')[0]).toBe('vllm:kv_cache_usage_perc');
  });

  it('diffSnapshots: deltas, hit rate, per engine, counter resets', () => {
    const a = snap(vllmPage(), 1000);
    const st = {
      ...DEFAULT_VLLM_STATE,
      preemptions: [5, 4] as [number, number],
      queries: [2000, 3500] as [number, number],
      hits: [900, 1300] as [number, number],
    };
    const b = snap(vllmPage(st), 11_000);
    const d = diffSnapshots(a, b);
    expect(d.durationS).toBe(10);
    expect(d.preemptions).toBe(3);
    expect(d.prefixQueries).toBe(1500);
    expect(d.prefixHits).toBe(600);
    expect(d.prefixHitRate).toBeCloseTo(0.4, 12);
    expect(d.engines['0']!.preemptions).toBe(3);
    expect(d.engines['1']!.prefixHitRate).toBeCloseTo(100 / 500, 12);
    expect(d.counterReset).toBe(false);
    expect(d.kvUsageFracAfter).toBeCloseTo(0.625, 12);
    const c = snap(vllmPage({ ...DEFAULT_VLLM_STATE, preemptions: [0, 1] }), 12_000);
    const r = diffSnapshots(b, c);
    expect(r.counterReset).toBe(true);
    expect(r.preemptions).toBe(1);
    expect(diffSnapshots(a, a).prefixHitRate).toBeUndefined();
  });
});

describe('fetchMetrics', () => {
  let srv: PageServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  it('reads /metrics at the origin of any server URL', async () => {
    srv = await startPageServer({ page: () => vllmPage() });
    const s = await fetchMetrics(`${srv.url}/v1`);
    expect(s.url).toBe(`${srv.url}/metrics`);
    expect(s.combined.running).toBe(8);
    expect(Math.abs(s.fetchedAtUnixMs - Date.now())).toBeLessThan(5000);
  });

  it('names the line of a page that is not Prometheus text, and refused ports', async () => {
    srv = await startPageServer({ page: () => 'vllm:x 1\n{"router": "json"}\n' });
    const err = await fetchMetrics(srv.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServelabError);
    expect((err as ServelabError).message).toMatch(/line 2/);
    const port = srv.port;
    await srv.close();
    srv = undefined;
    const refused = await fetchMetrics(`http://127.0.0.1:${port}`, { timeoutMs: 1000 }).catch(
      (e: unknown) => e,
    );
    expect((refused as ServelabError).message).toMatch(/refused/);
    expect((refused as ServelabError).hint).toMatch(/SSH forward/);
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerScrape } from '../cli/commands/scrape.js';
import { EXIT } from '../errors.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { queryRange, readFromPrometheus, writeTimeseriesCsv } from './prometheus-source.js';
import { type PageServer, startPageServer } from './testing/page-server.js';
import { vllmPage } from './testing/pages.js';
import { prometheusBin, startPrometheus, type TestPrometheus } from './testing/prometheus.js';
import { TIMESERIES_HEADER } from './timeseries.js';

const bin = prometheusBin();
const allowMissing = process.env.SERVELAB_ALLOW_MISSING_DEPS === '1';

describe.skipIf(!bin && allowMissing)('Prometheus source against a real Prometheus', () => {
  let vllm: PageServer;
  let dcgm: PageServer;
  let sim: SimServers;
  let prom: TestPrometheus | undefined;
  let promUrl = '';
  /** the tests' CSV files */
  let dir = '';

  beforeAll(async () => {
    if (!bin) throw new Error('prometheus not found: run scripts/ci-deps.sh (apt-get install prometheus)');
    vllm = await startPageServer({ page: () => vllmPage() });
    sim = await startSimServers({ servers: [{ model: 'meta-llama/Llama-3.1-8B-Instruct', port: 0 }] });
    dcgm = await startPageServer({
      page: () =>
        '# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n' +
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1",device="nvidia0",Hostname="node1"} 87\n' +
        '# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).\n# TYPE DCGM_FI_DEV_FB_USED gauge\n' +
        'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-1",device="nvidia0",Hostname="node1"} 30512\n',
    });
    dir = mkdtempSync(join(tmpdir(), 'servelab-prom-test-'));
    prom = await startPrometheus({
      bin,
      jobs: {
        vllm: [`127.0.0.1:${vllm.port}`, `127.0.0.1:${sim.endpoints[0]!.port}`],
        dcgm: [`127.0.0.1:${dcgm.port}`],
      },
    });
    promUrl = prom.url;
    // the first scrape lands ~5-6 s after start: wait for data from every target, bounded
    await prom.waitFor('DCGM_FI_DEV_GPU_UTIL');
    await prom.waitFor(`vllm:kv_cache_usage_perc{instance="127.0.0.1:${vllm.port}"}`);
    await prom.waitFor(`vllm:kv_cache_usage_perc{instance="127.0.0.1:${sim.endpoints[0]!.port}"}`);
  }, 30_000);

  afterAll(async () => {
    await prom?.close();
    await vllm?.close();
    await dcgm?.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads KV usage (each engine and combined), a counter and DCGM GPU series back, and writes the CSV', async () => {
    const now = Math.ceil(Date.now() / 1000);
    const r = await readFromPrometheus({
      prometheusUrl: promUrl,
      startUnixS: now - 30,
      endUnixS: now,
      stepS: 1,
      metrics: ['vllm:kv_cache_usage_perc', 'vllm:num_preemptions_total', 'vllm:gpu_cache_usage_perc'],
    });
    expect(r.namesFound).toEqual({
      'vllm:kv_cache_usage_perc': 'vllm:kv_cache_usage_perc',
      'vllm:num_preemptions_total': 'vllm:num_preemptions_total',
      // the V0 name falls back to the V1 name this server has
      'vllm:gpu_cache_usage_perc': 'vllm:kv_cache_usage_perc',
    });
    expect(r.dcgmFound).toEqual(['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED']);
    const kv = r.samples.filter((s) => s.metric === 'vllm:kv_cache_usage_perc' && s.port === vllm.port);
    expect(kv.length).toBeGreaterThan(0);
    // used / total blocks, weighted by vllm:cache_config_info's num_gpu_blocks (1000 and 3000)
    expect(kv.every((s) => s.value === 0.625)).toBe(true);
    // and each engine on its own row, before the combined row of the same time
    const atT = r.samples.filter((s) => s.port === vllm.port && s.tsUnixS === kv[0]!.tsUnixS);
    expect(atT.filter((s) => s.metric.startsWith('vllm:kv_cache_usage_perc'))).toEqual([
      {
        tsUnixS: kv[0]!.tsUnixS,
        port: vllm.port,
        metric: 'vllm:kv_cache_usage_perc{engine="0"}',
        value: 0.25,
      },
      {
        tsUnixS: kv[0]!.tsUnixS,
        port: vllm.port,
        metric: 'vllm:kv_cache_usage_perc{engine="1"}',
        value: 0.75,
      },
      { tsUnixS: kv[0]!.tsUnixS, port: vllm.port, metric: 'vllm:kv_cache_usage_perc', value: 0.625 },
    ]);
    // the simulator has one engine: only the bare row
    expect(r.samples.some((s) => s.port === sim.endpoints[0]!.port && s.metric.includes('{'))).toBe(false);
    // the simulator, scraped by the same Prometheus
    const simKv = r.samples.filter(
      (s) => s.metric === 'vllm:kv_cache_usage_perc' && s.port === sim.endpoints[0]!.port,
    );
    expect(simKv.length).toBeGreaterThan(0);
    expect(simKv.every((s) => s.value >= 0 && s.value <= 1)).toBe(true);
    expect(
      r.samples.find((s) => s.metric === 'vllm:num_preemptions_total' && s.port === vllm.port)!.value,
    ).toBe(6);
    const util = r.samples.filter((s) => s.metric === 'DCGM_FI_DEV_GPU_UTIL[gpu=0 host=node1]');
    expect(util.length).toBeGreaterThan(0);
    expect(util[0]!.value).toBe(87);
    expect(util[0]!.port).toBe(dcgm.port);
    const out = join(dir, 'kv.csv');
    writeTimeseriesCsv(out, r.samples);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(TIMESERIES_HEADER);
    expect(lines).toHaveLength(r.samples.length + 1);
    // a second write appends (no second header); a file with another header is refused
    writeTimeseriesCsv(out, r.samples.slice(0, 2));
    const again = readFileSync(out, 'utf8').trim().split('\n');
    expect(again).toHaveLength(r.samples.length + 3);
    expect(again.filter((l) => l === TIMESERIES_HEADER)).toHaveLength(1);
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'a,b\n1,2\n');
    expect(() => writeTimeseriesCsv(other, r.samples)).toThrow(/exists with another header/);
    expect(readFileSync(other, 'utf8')).toBe('a,b\n1,2\n');
  });

  it('servelab scrape --prometheus-url writes the CSV (one server picked by --url)', async () => {
    let err = '';
    let code: number = EXIT.ok;
    const program = new Command('servelab').exitOverride();
    registerScrape(program, {
      io: {
        stdout: () => {},
        stderr: (t) => {
          err += t;
        },
        isTTY: false,
        env: {},
        cwd: dir,
        signal: new AbortController().signal,
      },
      setExit: (c) => {
        code = c;
      },
    });
    // scrape the vLLM server from `start` (a time before now) into p.csv
    const scrape = (start: string) =>
      program.parseAsync(
        [
          'scrape',
          '--prometheus-url',
          promUrl,
          '--url',
          vllm.url,
          '--start',
          start,
          '--step',
          '1s',
          '--out',
          'p.csv',
        ],
        { from: 'user' },
      );
    await scrape('-30s');
    expect(code).toBe(EXIT.ok);
    const lines = readFileSync(join(dir, 'p.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe(TIMESERIES_HEADER);
    const metrics = new Set(lines.slice(1).map((l) => `${l.split(',')[2]},${l.split(',')[3]}`));
    expect(metrics.has(`${vllm.port},vllm:kv_cache_usage_perc`)).toBe(true);
    expect(metrics.has(`${sim.endpoints[0]!.port},vllm:kv_cache_usage_perc`)).toBe(false);
    expect(err).toMatch(/GPU series \(DCGM\): DCGM_FI_DEV_GPU_UTIL, DCGM_FI_DEV_FB_USED/);
    // --help says the CSV is appended to: a second scrape into the same file keeps the first rows
    const first = lines.length;
    await scrape('-10s');
    expect(code).toBe(EXIT.ok);
    const after = readFileSync(join(dir, 'p.csv'), 'utf8').trim().split('\n');
    expect(after.slice(0, first)).toEqual(lines);
    expect(after.length).toBeGreaterThan(first);
    expect(after.filter((l) => l === TIMESERIES_HEADER)).toHaveLength(1);
    expect(err).toMatch(/appended \d+ rows to .*p\.csv/);
  });

  it('reports Prometheus errors with its message', async () => {
    await expect(
      queryRange({ prometheusUrl: promUrl, query: 'rate(', startUnixS: 1, endUnixS: 2, stepS: 1 }),
    ).rejects.toThrow(/parse error/);
  });
});

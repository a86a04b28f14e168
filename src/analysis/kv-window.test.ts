import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { EXIT } from '../errors.js';
import { summarizeCell } from './cell-summary.js';
import { activeWindow, type KvSample, kvEngineOf, kvSeries, parseKvEngine } from './kv-window.js';
import { parseTimeseriesCsv } from './load.js';
import { analyzeOptions } from './options.js';
import { cellInput, T0, task } from './testing/fixtures.js';
import { writeSyntheticRun } from './testing/synthetic-run.js';

/**
 * One port, two engines, every 5 s from t=0, as the sampler writes them (engine rows, then the
 * combined row = used / total blocks; equal pools here, so the mean):
 *   engine 0: 0.1 0.8 0.9 0.8 0.3 0.1      above 0.7 at 5..15 s
 *   engine 1: 0.1 0.42 0.6 0.9 0.9 0.1     above 0.7 at 15..20 s
 *   combined: 0.1 0.61 0.75 0.85 0.6 0.1   above 0.7 at 10..15 s
 *   max:      0.1 0.8 0.9 0.9 0.9 0.1      above 0.7 at 5..20 s
 */
const E0 = [0.1, 0.8, 0.9, 0.8, 0.3, 0.1];
const E1 = [0.1, 0.42, 0.6, 0.9, 0.9, 0.1];
function twoEngines(port = 1900): KvSample[] {
  const out: KvSample[] = [];
  E0.forEach((v0, i) => {
    const v1 = E1[i]!;
    const tsMs = T0 + i * 5000;
    out.push({ tsMs, port, metric: 'vllm:kv_cache_usage_perc{engine="0"}', value: v0 });
    out.push({ tsMs, port, metric: 'vllm:kv_cache_usage_perc{engine="1"}', value: v1 });
    out.push({ tsMs, port, metric: 'vllm:kv_cache_usage_perc', value: (v0 + v1) / 2 });
  });
  return out;
}

const span = (w: { startMs: number | null; endMs: number | null }) => [
  w.startMs === null ? null : (w.startMs - T0) / 1000,
  w.endMs === null ? null : (w.endMs - T0) / 1000,
];

describe('active window over a port with two engines', () => {
  it('default: the max over engines (no engine averaged away)', () => {
    const w = activeWindow(twoEngines());
    expect(w.engine).toEqual({ asked: 'max', used: 'max', engines: ['0', '1'] });
    expect(w.samples).toBe(6); // one per tick, not three
    expect(span(w)).toEqual([5, 20]);
    expect(w.peakValue).toBe(0.9);
  });

  it('combined, engine 0 and engine 1 each give their own window', () => {
    const kv = twoEngines();
    const c = activeWindow(kv, { engine: 'combined' });
    expect(c.engine.used).toBe('combined');
    expect(c.samples).toBe(6);
    expect(span(c)).toEqual([10, 15]);
    expect(span(activeWindow(kv, { engine: 0 }))).toEqual([5, 15]);
    expect(span(activeWindow(kv, { engine: 1 }))).toEqual([15, 20]);
    const none = activeWindow(kv, { engine: 2 });
    expect(none.status).toBe('no-samples');
  });

  it('a file without per-engine rows (one engine, or written before them): max and engine 0 read the bare row', () => {
    const kv = twoEngines().filter((s) => kvEngineOf(s.metric) === undefined);
    for (const engine of ['max', 0] as const) {
      const w = activeWindow(kv, { engine });
      expect(w.engine).toEqual({ asked: engine, used: 'combined', engines: [] });
      expect(span(w)).toEqual([10, 15]);
    }
    expect(activeWindow(kv, { engine: 1 }).status).toBe('no-samples');
  });

  it('rows read back from the CSV text keep their engine (labels with commas survive too)', () => {
    const text = [
      'ts_iso,ts_unix,port,metric,value',
      '2023-11-14T22:13:20.000Z,1700000000.000,1900,vllm:kv_cache_usage_perc{engine="0"},0.8',
      '2023-11-14T22:13:20.000Z,1700000000.000,1900,vllm:kv_cache_usage_perc{engine="1"},0.42',
      '2023-11-14T22:13:20.000Z,1700000000.000,1900,vllm:kv_cache_usage_perc,0.61',
      '2023-11-14T22:13:20.000Z,1700000000.000,1900,vllm:num_requests_running{engine="1",x="a,b"},3',
    ].join('\n');
    const { samples } = parseTimeseriesCsv(text);
    expect(samples.map((s) => kvEngineOf(s.metric))).toEqual(['0', '1', undefined, undefined]);
    expect(kvSeries(samples, 1900, 'max').series.map((s) => s.value)).toEqual([0.8]);
    expect(kvSeries(samples, 1900, 'combined').series.map((s) => s.value)).toEqual([0.61]);
    expect(kvSeries(samples, 1900, 1).series.map((s) => s.value)).toEqual([0.42]);
  });

  it('summarizeCell windows follow --kv-engine; a missing engine is a warning', () => {
    const cell = () =>
      cellInput('baseline/c2/r1', {
        kv: twoEngines(),
        tasks: [task('a', 0, 6), task('b', 0, 12), task('c', 0, 18), task('d', 0, 24)],
      });
    const active = (opts: Parameters<typeof summarizeCell>[1]) => {
      const s = summarizeCell(cell(), opts);
      return { s, w: s.windows.find((x) => x.kind === 'active')! };
    };
    // max: [5, 20] s holds the ends at 6, 12, 18
    expect(active({}).w.tasksEnded).toBe(3);
    expect(active({}).w.durationS).toBe(15);
    // combined: [10, 15] s holds the end at 12
    expect(active(analyzeOptions({ kvEngine: 'combined' })).w.tasksEnded).toBe(1);
    expect(active(analyzeOptions({ kvEngine: 'combined' })).w.durationS).toBe(5);
    // engine 1: [15, 20] s holds the end at 18
    expect(active(analyzeOptions({ kvEngine: '1' })).w.tasksEnded).toBe(1);
    const missing = active({ kvEngine: 3 }).s;
    expect(missing.kv.status).toBe('no-samples');
    expect(missing.warnings.join('\n')).toMatch(
      /--kv-engine 3: port 1900 has no KV rows of engine 3 \(engines: 0, 1\)/,
    );
  });

  it('--kv-engine is max, combined or an engine number; anything else is a clear error', () => {
    expect(parseKvEngine('max')).toBe('max');
    expect(parseKvEngine('combined')).toBe('combined');
    expect(parseKvEngine('1')).toBe(1);
    expect(parseKvEngine('mean')).toBeUndefined();
    expect(() => analyzeOptions({ kvEngine: 'mean' })).toThrow(
      /--kv-engine mean is not max, combined or an engine number/,
    );
  });
});

describe('servelab analyze --kv-engine on a run whose orchestrator port has two engines', () => {
  it('the active window and the KV line follow the flag; a bad value is exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'servelab-kv-engine-'));
    try {
      await writeSyntheticRun(dir, [
        { arm: 'baseline', concurrency: 4, rep: 1, tasks: 12, stepsPerTask: 3, kvPlateau: 0.5 },
      ]);
      // replace the cell's KV file by two engines: engine 0 full from 20 s on, engine 1 never
      const csv = join(dir, 'baseline/c4/r1/kv_timeseries.csv');
      const t0 = Number((await readFile(csv, 'utf8')).split('\n')[1]!.split(',')[1]);
      const lines = ['ts_iso,ts_unix,port,metric,value'];
      for (let i = 0; i < 20; i++) {
        const ts = t0 + i * 5;
        const iso = new Date(ts * 1000).toISOString();
        const e0 = i >= 4 && i <= 10 ? 0.95 : 0.2;
        const e1 = 0.3;
        lines.push(
          `${iso},${ts.toFixed(3)},1900,vllm:kv_cache_usage_perc{engine="0"},${e0}`,
          `${iso},${ts.toFixed(3)},1900,vllm:kv_cache_usage_perc{engine="1"},${e1}`,
          `${iso},${ts.toFixed(3)},1900,vllm:kv_cache_usage_perc,${(e0 + e1) / 2}`,
        );
      }
      await writeFile(csv, `${lines.join('\n')}\n`);
      const analyze = async (...flags: string[]) => {
        const c = captureIo({ cwd: dir });
        const code = await runMain(['analyze', dir, '--no-write', ...flags], c.io);
        return { code, out: c.out.join(''), err: c.err.join('') };
      };
      const json = async (...flags: string[]) => JSON.parse((await analyze('--json', ...flags)).out)[0];
      const max = await json();
      expect(max.kv.engine).toEqual({ asked: 'max', used: 'max', engines: ['0', '1'] });
      expect(max.kv.status).toBe('ok');
      expect((max.kv.endMs - max.kv.startMs) / 1000).toBe(30); // samples 4..10
      const combined = await json('--kv-engine', 'combined');
      expect(combined.kv.status).toBe('never-above'); // (0.95 + 0.3) / 2 = 0.625
      expect(combined.windows.find((w: { kind: string }) => w.kind === 'active').durationS).toBeNull();
      expect((await json('--kv-engine', '1')).kv.status).toBe('never-above');
      const text = await analyze();
      expect(text.out).toMatch(/KV port 1900 \(orchestratorPort; max over engines of 0, 1\)/);
      const bad = await analyze('--kv-engine', 'avg');
      expect(bad.code).toBe(EXIT.usage);
      expect(bad.err).toMatch(/--kv-engine avg is not max, combined or an engine number/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

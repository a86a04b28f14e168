/**
 * `servelab bench --scenario ...` end to end on the embedded simulator over real HTTP (short
 * runs; the verdicts themselves are tested in virtual time in loadgen/scenarios).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import type { RequestRecord } from '../../loadgen/records.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const small = [
  '--random-input-len',
  '64',
  '--random-output-len',
  '8',
  '--workers',
  '0',
  '--metrics-interval',
  '0.2',
];
const outDir = () => join(mkdtempSync(join(tmpdir(), 'servelab-scn-')), 'run');
// biome-ignore lint/suspicious/noExplicitAny: the test reads summary.json as plain JSON
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>;

describe('servelab bench --scenario', () => {
  it('ramp: one stage per level, records of every stage appended, the knee or why not', async () => {
    const dir = outDir();
    const c = captureIo();
    const code = await runMain(
      ['bench', '--scenario', 'ramp', '--levels', 'c1,c2,c4', '--num-prompts', '8', '--out', dir, ...small],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    const out = c.out.join('');
    expect(out).toMatch(/^level\s+ok\/total/m);
    expect(out).toMatch(/^ramp: (knee at|not saturated|no knee)/m);
    // real time on a shared host: the ramp may call saturation at any level, so only the first is sure
    expect(c.err.join('')).toContain('stage 1: c=1 (closed loop, 1 user)');
    const recs = readFileSync(join(dir, 'requests.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RequestRecord);
    const s = readJson(join(dir, 'summary.json'));
    expect(s.scenario.kind).toBe('ramp');
    const ran = s.scenario.levels.length as number;
    expect(recs.length).toBe(8 * ran);
    expect(s.stages).toHaveLength(ran);
    expect(s.scenario.levels[0].meanWaiting).toBeDefined();
  });

  it('ramp: every level is a cell of the one cell runner (stages/<k>/cell.json at teardown), on one kept server', async () => {
    const dir = outDir();
    const c = captureIo();
    const code = await runMain(
      ['bench', '--scenario', 'ramp', '--levels', 'c1,c2,c4', '--num-prompts', '4', '--out', dir, ...small],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    const s = readJson(join(dir, 'summary.json'));
    const ran = s.scenario.levels.length as number;
    expect(ran).toBeGreaterThanOrEqual(1);
    const ports = new Set<number>();
    for (let k = 0; k < ran; k++) {
      const cell = readJson(join(dir, 'stages', String(k), 'cell.json'));
      expect(cell.status).toBe('complete');
      expect(cell.phaseReached).toBe('teardown');
      expect(cell.concurrency).toBe([1, 2, 4][k]);
      expect(cell.requests).toMatchObject({ measured: 4, ok: 4 });
      // the embedded simulator started once, before the first level, and kept for every level
      expect(cell.serversKept).toEqual({ launchedBy: 'series', reused: true });
      ports.add(cell.servers[0].port);
    }
    expect(ports.size).toBe(1);
    expect(existsSync(join(dir, 'stages', String(ran), 'cell.json'))).toBe(false);
    // the level's server timeline came from the cell's /metrics probe (kv_timeseries.csv)
    expect(readFileSync(join(dir, 'kv_timeseries.csv'), 'utf8')).toContain('vllm:num_preemptions_total');
    expect(s.stages[0].server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  });

  it('grid: a cell over max_model_len is skipped with the reason, the others run', async () => {
    const dir = outDir();
    const c = captureIo();
    const code = await runMain(
      [
        'bench',
        '--scenario',
        'grid',
        '--grid-prompts',
        '64,200k',
        '--grid-outputs',
        '4,8',
        '--num-prompts',
        '4',
        '--max-concurrency',
        '2',
        '--out',
        dir,
        ...small,
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    const s = readJson(join(dir, 'summary.json'));
    const cells = s.scenario.cells as { promptTokens: number; skipped?: string; row?: { ok: number } }[];
    expect(cells.filter((x) => x.row).map((x) => x.row!.ok)).toEqual([4, 4]);
    expect(cells.filter((x) => x.skipped)).toHaveLength(2);
    expect(c.out.join('')).toContain(
      'skipped 200000 x 4: prompt 200000 + output 4 = 200004 tokens > max_model_len 131072',
    );
    // the report: a table of the cells and the heatmaps, as SVG
    const html = join(dir, 'report.html');
    expect(await runMain(['report', dir, '--out', html], captureIo().io)).toBe(EXIT.ok);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('Grid: output tok/s by prompt x output length');
    expect(page).toContain('Grid: TTFT p50 ms by prompt x output length');
    expect(page).toMatch(/<svg[\s\S]*skipped/);
    expect(page).toContain('skipped: prompt 200000 + output 4');
  });

  it('soak with a large injected leak: degrading, exit 1, slices and evidence in summary.json', async () => {
    const dir = outDir();
    const c = captureIo();
    const code = await runMain(
      [
        'bench',
        '--scenario',
        'soak',
        '--duration',
        '4',
        '--slice',
        '0.5',
        '--max-concurrency',
        '4',
        '--sim-step-drift',
        '6000',
        '--out',
        dir,
        ...small,
      ],
      c.io,
    );
    const s = readJson(join(dir, 'summary.json'));
    expect(s.scenario.slices).toHaveLength(8);
    expect(s.scenario.verdict).toBe('degrading');
    expect(code).toBe(EXIT.failed);
    expect(c.out.join('')).toMatch(/soak verdict: DEGRADING/);
    expect(c.out.join('')).toMatch(/TPOT p50: \+.*MOVES/);
    expect(s.scenario.slices[2].heapUsedMiB).toBeGreaterThan(0);
  });

  it('soak without --max-concurrency / --request-rate: a quick ramp first, then the soak at 90 % of its knee', async () => {
    const dir = outDir();
    const c = captureIo();
    await runMain(
      [
        'bench',
        '--scenario',
        'soak',
        '--duration',
        '3',
        '--slice',
        '0.5',
        '--levels',
        'c2,c4,c8',
        '--out',
        dir,
        ...small,
      ],
      c.io,
    );
    const s = readJson(join(dir, 'summary.json'));
    const load = s.scenario.load;
    expect(load.from).toBe('ramp');
    const ramp = load.ramp.levels as { label: string; load: number }[];
    expect(ramp[0].label).toBe('c=2');
    // the basis is the knee, or the first / highest level the ramp ran; 90 % of it, rounded
    const basis = ramp.find((l) => l.label === load.basis)!;
    expect(load.concurrency).toBe(Math.max(1, Math.round(0.9 * basis.load)));
    expect(s.scenario.arrivals).toBe(`closed(c=${load.concurrency})`);
    expect(s.scenario.slices).toHaveLength(6);
    // the ramp's stages, then the soak's, all in summary.json
    expect(s.stages).toHaveLength(ramp.length + 1);
    // the ramp's levels and the soak are cells on one server (its uptime spans the whole run)
    const ports = new Set(
      Array.from({ length: ramp.length + 1 }, (_, k) =>
        readJson(join(dir, 'stages', String(k), 'cell.json')),
      ).map((cell) => cell.servers[0].port as number),
    );
    expect(ports.size).toBe(1);
    expect(c.err.join('')).toContain('soak: no --max-concurrency / --request-rate: a quick ramp first');
    expect(c.out.join('')).toMatch(new RegExp(`soaked at c=${load.concurrency} = 90 % of`));
    expect(c.out.join('')).toMatch(/soak verdict: /);
  });

  it('slo: an SLO no load meets exits 1 and says so', async () => {
    const c = captureIo();
    const code = await runMain(
      [
        'bench',
        '--scenario',
        'slo',
        '--slo',
        'ttft:P99<0.001ms',
        '--num-prompts',
        '4',
        '--out',
        outDir(),
        ...small,
      ],
      c.io,
    );
    expect(code).toBe(EXIT.failed);
    expect(c.out.join('')).toContain('no load met ttft:P99<0.001ms');
  });

  it.each([
    [['--scenario', 'nope'], '--scenario "nope" is not known'],
    [['--scenario', 'soak'], '--scenario soak needs --duration'],
    [['--scenario', 'slo'], '--scenario slo needs --slo'],
    [['--scenario', 'ramp', '--slo', 'ttft<2'], '--slo "ttft<2"'],
    [['--scenario', 'grid', '--grid-prompts', '1.5k,x'], '--grid-prompts "x" is not a token count'],
    [
      ['--scenario', 'ramp', '--base-url', 'http://127.0.0.1:9', '--sim-step-drift', '1'],
      'embedded simulator only',
    ],
  ])('bad input %j: exit 2 naming it', async (args, msg) => {
    const c = captureIo();
    const code = await runMain(['bench', ...args, '--out', outDir(), ...small], c.io);
    expect(code).toBe(EXIT.usage);
    expect(c.err.join('')).toContain(msg);
    expect(c.err.join('')).not.toMatch(/\n\s+at /);
  });
});

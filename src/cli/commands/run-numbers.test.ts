/**
 * One definition per number: a run with failed tasks (context-length errors on a simulated
 * orchestrator with a small max_model_len), driven through the CLI as a user would, shows the
 * same ok and all-ended throughput in the end-of-run table, summary.json, `analyze --json`,
 * summary.csv, report.html and the driver's counts in cell.json.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CellSummary } from '../../analysis/cell-summary.js';
import { fmt } from '../../report/table.js';
import { type SimServers, startSimServers } from '../../sim/server/index.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
let sim: SimServers | undefined;
afterAll(async () => sim?.close());

function csvRow(text: string, cell: string): Record<string, string> {
  const [head, ...rows] = text.trim().split('\n');
  const cols = head!.split(',');
  const row = rows.find((r) => r.startsWith(`${cell},`))!.split(',');
  return Object.fromEntries(cols.map((c, i) => [c, row[i]!]));
}

describe('one definition per number', () => {
  it('a run with failures: run table, summary.json, analyze, CSV, report and cell.json agree', async () => {
    sim = await startSimServers({
      seed: 5,
      servers: [
        { model: ORCH, persona: 'orchestrator', port: 0, stepTimeMs: 1, maxModelLen: 2000 },
        { model: 'openai/gpt-oss-20b', persona: 'gpt-oss', port: 0, stepTimeMs: 0.5 },
      ],
    });
    const endpoints: Record<string, unknown> = { oss_expert_mapping: { 'expert-1': 'openai/gpt-oss-20b' } };
    for (const e of sim.endpoints) endpoints[e.model] = [{ ip_addr: '127.0.0.1', port: String(e.port) }];
    const dir = mkdtempSync(join(tmpdir(), 'servelab-numbers-'));
    // JSON is YAML
    const spec = {
      name: 'numbers',
      seed: 3,
      servers: { sim: { kind: 'external', endpoints } },
      arms: [{ name: 'a', servers: 'sim' }],
      workload: {
        generator: {
          count: 8,
          systemPromptTokens: 100,
          overrides: Object.fromEntries(
            ['retail', 'telecom', 'airline'].map((d) => [
              d,
              { userTurns: { min: 0, max: 1 }, toolResultTokens: { median: 60, sigma: 0.3 } },
            ]),
          ),
        },
      },
      agent: { orchestrator: ORCH, timeScale: 0.01, expertMaxTokens: 200, maxTokens: 200 },
      concurrency: [3],
      limits: { maxSteps: 40, maxTaskTimeS: 30, callTimeoutS: 10, watchdogS: 5, graceS: 0.2 },
      metrics: { intervalMs: 200 },
      preflight: { smoke: false, waitS: 5 },
    };
    writeFileSync(join(dir, 'numbers.yaml'), JSON.stringify(spec));
    const c = captureIo({ cwd: dir });
    const code = await runMain(['run', 'numbers.yaml'], c.io);
    const out = c.out.join('');
    expect(code, c.err.join('')).toBe(0);
    const runDir = /run directory: (.+)/.exec(out)![1]!.trim();
    const cellDir = join(runDir, 'a', 'c3', 'r1');

    // summary.json: the analysis's cell summary
    const s = JSON.parse(readFileSync(join(cellDir, 'summary.json'), 'utf8')) as CellSummary;
    const m = s.windows.find((w) => w.kind === 'makespan')!;
    expect(s.counts.tasksFailed, 'the crafted run has failed tasks').toBeGreaterThan(0);
    expect(s.counts.tasksOk).toBeGreaterThan(0);
    expect(m.okTasksPerMin!).toBeLessThan(m.allTasksPerMin!);

    // the end-of-run table: ok tasks/min first, all-ended beside it
    const header = out.split('\n').find((l) => /^arm\s+C\s+reps/.test(l))!;
    expect(header).toMatch(
      /tasks ok\/total\s+failed\s+incomplete\s+ok tasks\/min\s+ok steps\/s\s+all-ended tasks\/min\s+all-ended steps\/s\s+makespan s/,
    );
    const row = out
      .split('\n')
      .find((l) => /^a\s+3\s+1\s/.test(l))!
      .trim()
      .split(/\s+/);
    expect(row).toEqual([
      'a',
      '3',
      '1',
      `${s.counts.tasksOk}/${s.counts.tasks}`,
      String(s.counts.tasksFailed),
      String(s.counts.tasksIncomplete),
      fmt(m.okTasksPerMin),
      fmt(m.okStepsPerS),
      fmt(m.allTasksPerMin),
      fmt(m.allStepsPerS),
      fmt(m.durationS),
    ]);
    // the windows table: the makespan column holds the same ok figure
    expect(out).toMatch(
      new RegExp(
        `a/c3/r1.*${fmt(m.okTasksPerMin)} \\(${fmt(m.okStepsPerS)}\\)\\s+${fmt(m.allTasksPerMin)}\\s`,
      ),
    );

    // analyze --json: the same numbers
    const a = captureIo({ cwd: dir });
    expect(await runMain(['analyze', runDir, '--json', '--no-write'], a.io)).toBe(0);
    const [again] = JSON.parse(a.out.join('')) as CellSummary[];
    const am = again!.windows.find((w) => w.kind === 'makespan')!;
    for (const k of ['okTasksPerMin', 'allTasksPerMin', 'okStepsPerS', 'allStepsPerS', 'tasksOk'] as const)
      expect(am[k], k).toBe(m[k]);

    // summary.csv
    const csv = csvRow(readFileSync(join(runDir, 'summary.csv'), 'utf8'), 'a/c3/r1');
    expect(csv['makespan ok tasks/min']).toBe(fmt(m.okTasksPerMin));
    expect(csv['makespan all-ended tasks/min']).toBe(fmt(m.allTasksPerMin));
    expect(csv['makespan ok steps/s']).toBe(fmt(m.okStepsPerS));
    expect(csv['tasks ok/failed/incomplete']).toBe(
      `${s.counts.tasksOk}/${s.counts.tasksFailed}/${s.counts.tasksIncomplete}`,
    );

    // report.html: the cell's overview row carries the same figures
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    expect(html).toContain(
      `<td class="num">${fmt(m.okTasksPerMin)}</td><td class="num">${fmt(m.okStepsPerS)}</td>`,
    );
    expect(html).toMatch(/ok tasks\/min \(the headline figure\)/);

    // the driver's counts (cell.json) use the same definitions over the same makespan
    const cell = JSON.parse(readFileSync(join(cellDir, 'cell.json'), 'utf8'));
    expect(cell.counts.makespanS).toBeCloseTo(m.durationS!, 9);
    expect(cell.counts.tasksPerMin).toBeCloseTo(m.okTasksPerMin!, 9);
    expect(cell.counts.stepsPerSec).toBeCloseTo(m.okStepsPerS!, 9);
    // what was run is recorded for the report's header
    expect(cell.timeScale).toBe(0.01);
  }, 60_000);
});

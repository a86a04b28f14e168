/**
 * `servelab simulate`: the same spec in virtual time. The consistency test runs one small,
 * non-saturated spec in real time over HTTP (time-scaled so it is short) and in virtual time,
 * and compares the driver's tasks/min and steps/s (cell.json counts).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';

function spec(extraArms: unknown[] = [], extraServers: Record<string, unknown> = {}) {
  return {
    name: 'consistency',
    seed: 4,
    servers: {
      sim: {
        kind: 'sim',
        topology: {
          servers: [
            { model: ORCH, persona: 'orchestrator', port: 1900, gpu: 'H100-SXM-80GB' },
            { name: 'expert-1', model: 'openai/gpt-oss-20b', persona: 'gpt-oss', port: 1910 },
          ],
        },
        overrides: { stepTimeScale: 0.5, freePorts: true },
      },
      ...extraServers,
    },
    arms: [{ name: 'a', servers: 'sim' }, ...extraArms],
    workload: {
      generator: {
        count: 12,
        mode: 'synthetic',
        systemPromptTokens: 200,
        overrides: Object.fromEntries(
          ['retail', 'telecom', 'airline'].map((d) => [d, { userTurns: { min: 0, max: 1 } }]),
        ),
      },
    },
    agent: { orchestrator: ORCH, timeScale: 0.05, maxTokens: 400, expertMaxTokens: 200 },
    concurrency: [3],
    limits: { maxSteps: 40, maxTaskTimeS: 120, callTimeoutS: 60, watchdogS: 30, graceS: 0.2 },
    metrics: { intervalMs: 200 },
    preflight: { smoke: false, waitS: 5 },
  };
}

function runDirOf(out: string): string {
  return (/run directory: (.+)/.exec(out)?.[1] ?? '').replace(/ \(.*$/, '').trim();
}

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('servelab simulate', () => {
  it('gives the same tasks/min and steps/s as the real-time HTTP run of the same spec (within 5 %)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-simulate-'));
    writeFileSync(join(dir, 's.yaml'), JSON.stringify(spec()));
    const real = captureIo({ cwd: dir });
    expect(await runMain(['run', 's.yaml'], real.io), real.err.join('')).toBe(0);
    const virt = captureIo({ cwd: dir });
    const wall0 = performance.now();
    expect(await runMain(['simulate', 's.yaml'], virt.io), virt.err.join('')).toBe(0);
    const virtualWallS = (performance.now() - wall0) / 1000;
    const realDir = runDirOf(real.out.join(''));
    const virtDir = runDirOf(virt.out.join(''));
    const r = readJson(join(realDir, 'a/c3/r1/cell.json'));
    const v = readJson(join(virtDir, 'a/c3/r1/cell.json'));
    expect(r.counts.tasks.ok).toBe(12);
    expect(v.counts.tasks.ok).toBe(12);
    // the same programs: the same number of orchestrator calls
    expect(v.counts.calls.orchestrator).toBe(r.counts.calls.orchestrator);
    const rel = (a: number, b: number) => Math.abs(a - b) / b;
    // a host too loaded to keep real time shows here (the simulator's own lag counter)
    const lag = `real run's simulator lag: ${JSON.stringify(r.simRealtimeLagS)} s over ${r.counts.makespanS.toFixed(1)} s`;
    expect(
      rel(v.counts.tasksPerMin, r.counts.tasksPerMin),
      `${v.counts.tasksPerMin} vs ${r.counts.tasksPerMin}; ${lag}`,
    ).toBeLessThan(0.05);
    expect(
      rel(v.counts.stepsPerSec, r.counts.stepsPerSec),
      `${v.counts.stepsPerSec} vs ${r.counts.stepsPerSec}; ${lag}`,
    ).toBeLessThan(0.05);
    // virtual time is not real time: the simulated makespan took a fraction of it
    expect(virtualWallS).toBeLessThan(r.counts.makespanS);

    // the run directory says it was simulated, and how
    expect(readJson(join(virtDir, 'run.json')).mode).toBe('virtual');
    expect(readJson(join(realDir, 'run.json')).mode).toBe('real');
    const env = readJson(join(virtDir, 'environment.json'));
    expect(env.mode).toBe('virtual');
    expect(env.servers.map((s: { label: string }) => s.label)).toEqual(['virtual:1900', 'virtual:1910']);
    expect(v.mode).toBe('virtual');
    expect(v.phaseReached).toBe('teardown');
    expect(v.simulation).toMatchObject({
      clock: 'virtual',
      engines: [
        {
          label: 'virtual:1900',
          model: ORCH,
          gpu: expect.stringMatching(/H100/),
          schedulingPolicy: 'fcfs',
          stepTimeScale: 0.5,
        },
        { label: 'virtual:1910', schedulingPolicy: 'fcfs' },
      ],
    });
    // KV sampled on the virtual clock, on the records' time base
    const kv = readFileSync(join(virtDir, 'a/c3/r1/kv_timeseries.csv'), 'utf8').trim().split('\n');
    expect(kv.length).toBeGreaterThan(5);
    const tasks = readFileSync(join(virtDir, 'a/c3/r1/tasks.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const first = Number(kv[1]?.split(',')[1]) * 1000;
    expect(Math.abs(first - Math.min(...tasks.map((t: { startMs: number }) => t.startMs)))).toBeLessThan(
      1000,
    );
    // the analysis and report ran as for a real run
    expect(virt.out.join('')).toMatch(/report: .*report\.html/);
  }, 120_000);

  it('refuses an arm with command or external servers unless it says what stands in for it (exit 2, naming the arm)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-simulate-'));
    const ext = { kind: 'external', endpoints: { [ORCH]: [{ ip_addr: '127.0.0.1', port: '9' }] } };
    writeFileSync(
      join(dir, 'bad.yaml'),
      JSON.stringify(spec([{ name: 'vllm-real', servers: 'ext' }], { ext })),
    );
    for (const argv of [
      ['simulate', 'bad.yaml'],
      ['simulate', 'bad.yaml', '--dry-run'],
      ['run', '--virtual', 'bad.yaml'],
    ]) {
      const c = captureIo({ cwd: dir });
      expect(await runMain(argv, c.io)).toBe(2);
      expect(c.err.join('')).toMatch(
        /arm vllm-real: its servers \(servers\.ext\) are kind external, which cannot run in virtual time/,
      );
      expect(c.err.join('')).toMatch(/hint: .*simulateAs/);
      expect(c.err.join('')).not.toMatch(/\n\s+at /);
    }
    // with simulateAs the arm runs on the simulated system named for it; --dry-run shows the plan
    const stand = { topology: spec().servers.sim.topology, overrides: { stepTimeScale: 0.5 } };
    writeFileSync(
      join(dir, 'ok.yaml'),
      JSON.stringify(spec([{ name: 'vllm-real', servers: 'ext', simulateAs: stand }], { ext })),
    );
    const dry = captureIo({ cwd: dir });
    expect(await runMain(['simulate', 'ok.yaml', '--dry-run'], dry.io), dry.err.join('')).toBe(0);
    expect(dry.out.join('')).toMatch(
      /servers\.ext for arm vllm-real: sim-virtual \(simulateAs, for kind external\)/,
    );
    expect(dry.out.join('')).toMatch(/cell 2 of 2: vllm-real\/c3\/r1/);
    const c = captureIo({ cwd: dir });
    expect(await runMain(['simulate', 'ok.yaml'], c.io), c.err.join('')).toBe(0);
    const runDir = runDirOf(c.out.join(''));
    expect(readJson(join(runDir, 'vllm-real/c3/r1/cell.json')).counts.tasks.ok).toBe(12);
  }, 60_000);
});

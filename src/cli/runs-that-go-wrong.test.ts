/**
 * Runs that go wrong must say so, through the CLI's own path (runMain with injected IO): a
 * finished run resumed, servers that cannot be launched (not on PATH, port in use), an
 * unknown --baseline, an interrupted `agent`, two quickstart-shaped runs on one machine, and
 * where `aggregate` writes. Real sockets and the HTTP simulator throughout.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { writeSyntheticBench, writeSyntheticRun } from '../analysis/testing/synthetic-run.js';
import { type SimServers, startSimServers } from '../sim/server/index.js';
import { runMain } from './main.js';
import { captureIo } from './testing/capture-io.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
const SMALL = [
  'workload: { generator: { count: 3, systemPromptTokens: 100, overrides: { retail: { userTurns: { min: 0, max: 0 } }, telecom: { userTurns: { min: 0, max: 0 } }, airline: { userTurns: { min: 0, max: 0 } } } } }',
  `agent: { orchestrator: "${ORCH}", timeScale: 0.01, maxTokens: 256, expertMaxTokens: 64 }`,
  'limits: { maxSteps: 40, maxTaskTimeS: 60, callTimeoutS: 20, watchdogS: 30, graceS: 1 }',
  'metrics: { intervalMs: 200 }',
  'preflight: { smoke: false, waitS: 5 }',
];

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `servelab-${prefix}-`));
}

/** a sim topology whose servers listen on `port` (0: free ports) */
function topology(dir: string, port = 0): void {
  writeFileSync(
    join(dir, 'topology.yaml'),
    [
      'servers:',
      `  - { name: orchestrator, model: "${ORCH}", persona: orchestrator, port: ${port} }`,
      `  - { name: expert-1, model: openai/gpt-oss-20b, persona: gpt-oss, port: ${port ? port + 1 : 0} }`,
      '',
    ].join('\n'),
  );
}

function runDirOf(out: string): string {
  return /run directory: (\S+)/.exec(out)?.[1] ?? '';
}

const servers: Server[] = [];
let sim: SimServers | undefined;
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await sim?.close();
  sim = undefined;
});

/** a TCP listener on a port of its own: the port is "in use" */
async function occupy(): Promise<number> {
  const s = createServer((c) => c.end());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as { port: number }).port;
}

describe('resume of a finished run (the CLI path)', () => {
  it('runs nothing again, does not crash, and says so', async () => {
    const dir = tmp('resume');
    topology(dir);
    writeFileSync(
      join(dir, 'spec.yaml'),
      [
        'name: resume',
        'seed: 1',
        'servers: { s: { kind: sim, topology: topology.yaml, overrides: { stepTimeMs: 1 } } }',
        'arms: [{ name: a, servers: s }]',
        ...SMALL,
        'concurrency: [2, 3]',
        '',
      ].join('\n'),
    );
    const first = captureIo({ cwd: dir });
    expect(await runMain(['run', 'spec.yaml'], first.io), first.err.join('')).toBe(0);
    const runDir = runDirOf(first.out.join(''));
    // the analysis has written its summary.json over every cell by now
    const summary = JSON.parse(readFileSync(join(runDir, 'a/c2/r1/summary.json'), 'utf8'));
    expect(summary.kind).toBe('agent-cell');
    const steps = readFileSync(join(runDir, 'a/c3/r1/steps.jsonl'), 'utf8');

    const again = captureIo({ cwd: dir });
    const code = await runMain(['run', 'spec.yaml', '--resume', runDir], again.io);
    const err = again.err.join('');
    expect(code, err).toBe(0);
    expect(err).not.toMatch(/Cannot read properties|TypeError/);
    expect(err).toMatch(/all 2 cell\(s\) of .* are already complete; nothing was run again/);
    expect(err).not.toMatch(/starting sim servers/);
    expect(readFileSync(join(runDir, 'a/c3/r1/steps.jsonl'), 'utf8')).toBe(steps);
    expect(readdirSync(join(runDir, 'a/c3')).filter((d) => d.includes('attempt'))).toEqual([]);
    // the table comes from the counts in cell.json, the same as the first time
    expect(again.out.join('')).toMatch(/^a\s+2\s+1\s+3\/3\s/m);
    expect(again.out.join('')).toMatch(/^a\s+3\s+1\s+3\/3\s/m);
  }, 60_000);
});

describe('servers that cannot be launched', () => {
  function commandSpec(dir: string, arms: { name: string; argv0: string; port: number }[]): void {
    const lines = ['name: nolaunch', 'servers:'];
    for (const a of arms)
      lines.push(
        `  ${a.name}:`,
        '    kind: command',
        '    healthTimeoutS: 20',
        '    processes:',
        `      - { label: orchestrator-${a.port}, argv: ["${a.argv0}", "serve", "${ORCH}", "--port", "${a.port}"], port: ${a.port} }`,
        `    endpoints: { "${ORCH}": [{ ip_addr: "127.0.0.1", port: "${a.port}" }] }`,
      );
    lines.push(
      'arms:',
      ...arms.map((a) => `  - { name: ${a.name}, servers: ${a.name} }`),
      ...SMALL,
      'concurrency: [2, 4]',
      '',
    );
    writeFileSync(join(dir, 'spec.yaml'), lines.join('\n'));
  }

  it('an executable not on PATH: exit 3 with the reason, before any run directory; --dry-run says the same', async () => {
    const dir = tmp('nopath');
    commandSpec(dir, [{ name: 'a', argv0: 'vllm-not-installed-here', port: 1 }]);
    const c = captureIo({ cwd: dir, env: { PATH: '/nonexistent-bin' } });
    expect(await runMain(['run', 'spec.yaml'], c.io)).toBe(3);
    const err = c.err.join('');
    expect(err).toMatch(/cannot start orchestrator-1: vllm-not-installed-here is not on PATH/);
    expect(err).toMatch(/hint: .*absolute path/);
    expect(c.out.join('')).toBe('');
    expect(existsSync(join(dir, 'runs'))).toBe(false);

    const dry = captureIo({ cwd: dir, env: { PATH: '/nonexistent-bin' } });
    expect(await runMain(['run', '--dry-run', 'spec.yaml'], dry.io)).toBe(3);
    expect(dry.err.join('')).toMatch(/vllm-not-installed-here is not on PATH/);
    // an executable that is there passes the dry run
    commandSpec(dir, [{ name: 'a', argv0: process.execPath, port: 1 }]);
    const ok = captureIo({ cwd: dir, env: { PATH: '/nonexistent-bin' } });
    expect(await runMain(['run', '--dry-run', 'spec.yaml'], ok.io), ok.err.join('')).toBe(0);
  });

  it('a port already in use: exit 3 naming the way out, the matrix stops at that arm, no table, no report', async () => {
    const dir = tmp('inuse');
    const port = await occupy();
    commandSpec(dir, [
      { name: 'a', argv0: process.execPath, port },
      { name: 'b', argv0: process.execPath, port: port + 1 },
    ]);
    const c = captureIo({ cwd: dir });
    expect(await runMain(['run', 'spec.yaml'], c.io)).toBe(3);
    const err = c.err.join('');
    const out = c.out.join('');
    expect(err).toMatch(/arm a: none of its 2 cell\(s\) could launch its servers; the matrix stopped here/);
    expect(err).toMatch(new RegExp(`port ${port} is already in use`));
    // the way out, said once
    expect(err.match(/hint: stop what listens there/g)).toHaveLength(1);
    expect(err).toMatch(/\[a\/c4\/r1\] servers did not launch \(the same reason as a\/c2\/r1\)/);
    // nothing measured is printed or reported as if it had been
    expect(out).not.toMatch(/tasks ok\/total|tasks\/min|report:/);
    const runDir = runDirOf(out);
    expect(existsSync(join(runDir, 'report.html'))).toBe(false);
    expect(existsSync(join(runDir, 'a/c2/r1/summary.json'))).toBe(false);
    expect(existsSync(join(runDir, 'b'))).toBe(false);
    const cell = JSON.parse(readFileSync(join(runDir, 'a/c2/r1/cell.json'), 'utf8'));
    expect(cell.status).toBe('failed');
    expect(cell.failure.phase).toBe('launch');
    expect(cell.counts).toBeUndefined();
  }, 30_000);

  it('a simulator port in use: exit 3, the hint names freePorts (or dropping --w1-ports)', async () => {
    const dir = tmp('siminuse');
    const port = await occupy();
    topology(dir, port);
    const spec = (free: boolean) =>
      [
        'name: siminuse',
        `servers: { s: { kind: sim, topology: topology.yaml, overrides: { stepTimeMs: 1${free ? ', freePorts: true' : ''} } } }`,
        'arms: [{ name: a, servers: s }]',
        ...SMALL,
        'concurrency: [2]',
        '',
      ].join('\n');
    writeFileSync(join(dir, 'spec.yaml'), spec(false));
    const c = captureIo({ cwd: dir });
    expect(await runMain(['run', 'spec.yaml'], c.io)).toBe(3);
    expect(c.err.join('')).toMatch(new RegExp(`port ${port} on 127.0.0.1 is already in use`));
    expect(c.err.join('')).toMatch(/hint: set `freePorts: true` in servers\.s\.overrides/);
    writeFileSync(join(dir, 'spec.yaml'), spec(true));
    const w1 = captureIo({ cwd: dir });
    expect(await runMain(['run', 'spec.yaml', '--w1-ports'], w1.io)).toBe(3);
    expect(w1.err.join('')).toMatch(/hint: run without --w1-ports/);
  }, 30_000);
});

describe('a sim topology that does not parse', () => {
  it('is bad input (exit 2) found before the matrix, by the run and by --dry-run', async () => {
    const dir = tmp('badtopo');
    writeFileSync(join(dir, 'topology.yaml'), `servers:\n  - { model: "${ORCH}", port: 0, stepTimeMs: 1 }\n`);
    writeFileSync(
      join(dir, 'spec.yaml'),
      [
        'name: badtopo',
        'servers: { s: { kind: sim, topology: topology.yaml } }',
        'arms: [{ name: a, servers: s }]',
        ...SMALL,
        'concurrency: [2]',
        '',
      ].join('\n'),
    );
    for (const argv of [
      ['run', 'spec.yaml'],
      ['run', '--dry-run', 'spec.yaml'],
    ]) {
      const c = captureIo({ cwd: dir });
      expect(await runMain(argv, c.io)).toBe(2);
      expect(c.err.join('')).toMatch(/topology\.yaml:2:\d+: servers\[0\]: Unrecognized key: "stepTimeMs"/);
    }
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});

describe('compare --baseline', () => {
  it('an arm that is not there: exit 2 listing the arms', async () => {
    const dir = tmp('baseline');
    await writeSyntheticRun(join(dir, 'run'), [
      { arm: 'baseline', concurrency: 4, rep: 1, tasks: 6, stepsPerTask: 3, kvPlateau: 0.8 },
      { arm: 'router', concurrency: 4, rep: 1, tasks: 6, stepsPerTask: 3, kvPlateau: 0.8 },
    ]);
    const c = captureIo({ cwd: dir });
    expect(await runMain(['compare', 'run', '--baseline', 'kv-ttl'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/--baseline kv-ttl: no such arm/);
    expect(c.err.join('')).toMatch(/hint: the arms are: baseline, router/);
    expect(c.out.join('')).toBe('');
  });
});

describe('aggregate', () => {
  it('writes beside the runs it read, or where --out says; not into the working directory', async () => {
    const dir = tmp('aggregate');
    for (const [i, mnbt] of [2048, 8192].entries())
      await writeSyntheticBench(join(dir, 'runs', `bench-${i}`), {
        n: 20,
        ratePerSec: 4,
        config: { max_num_batched_tokens: mnbt },
        ttftBaseMs: 50,
        tpotMs: 10,
        seed: i + 1,
      });
    const c = captureIo({ cwd: dir });
    expect(await runMain(['aggregate', 'runs/bench-0', 'runs/bench-1'], c.io), c.err.join('')).toBe(0);
    for (const f of ['experiment_results.csv', 'report.txt', 'viz_data.json']) {
      expect(existsSync(join(dir, 'runs', f)), f).toBe(true);
      expect(existsSync(join(dir, f)), f).toBe(false);
    }
    expect(c.out.join('')).toContain(join(dir, 'runs', 'experiment_results.csv'));
    const o = captureIo({ cwd: dir });
    expect(await runMain(['aggregate', 'runs/bench-0', '--out', 'agg'], o.io)).toBe(0);
    expect(existsSync(join(dir, 'agg', 'report.txt'))).toBe(true);
  });
});

describe('servelab agent interrupted', () => {
  it('gives a hint that applies to agent (no `servelab run <spec> --resume`)', async () => {
    sim = await startSimServers({
      seed: 2,
      servers: [
        { model: ORCH, persona: 'orchestrator', port: 0, stepTimeMs: 2 },
        { model: 'openai/gpt-oss-20b', persona: 'gpt-oss', port: 0, stepTimeMs: 1 },
      ],
    });
    const dir = tmp('agent-int');
    const cfg: Record<string, unknown> = {};
    for (const e of sim.endpoints) cfg[e.model] = [{ ip_addr: '127.0.0.1', port: String(e.port) }];
    cfg.oss_expert_mapping = { 'expert-1': 'openai/gpt-oss-20b' };
    writeFileSync(join(dir, 'model_config.json'), JSON.stringify(cfg));
    const ac = new AbortController();
    const err: string[] = [];
    const out: string[] = [];
    const code = await runMain(
      ['agent', '--model-config', 'model_config.json', '--tasks', '40', '-c', '2,4', '--time-scale', '0.05'],
      {
        stdout: (t) => void out.push(t),
        stderr: (t) => {
          err.push(t);
          // Ctrl-C once the first cell dispatches
          if (/ tasks at C=2/.test(t)) setTimeout(() => ac.abort(), 300);
        },
        isTTY: false,
        env: {},
        cwd: dir,
        signal: ac.signal,
      },
    );
    const text = err.join('');
    expect(code, text).toBe(130);
    expect(text).not.toMatch(/servelab run <spec> --resume/);
    expect(text).toMatch(/interrupted: cells done are kept; servelab analyze \S+ reads them/);
    expect(text).toMatch(/run this servelab agent command again with -c 2,4/);
  }, 60_000);
});

describe('sharing a machine', () => {
  it('two runs of the quickstart spec at once both succeed, on free ports recorded in the run', async () => {
    const quick = parseYaml(readFileSync('examples/agentic-quickstart-realtime.yaml', 'utf8')) as {
      servers: Record<string, { topology: string }>;
      workload: { generator: { count: number } };
      concurrency: number[];
      preflight?: unknown;
    };
    const dir = tmp('two');
    // the quickstart as shipped (its topology and overrides), with a tiny task count
    const sims = quick.servers['w1-sim'] as { topology: string };
    sims.topology = resolve('examples', sims.topology);
    quick.workload.generator.count = 3;
    quick.concurrency = [2];
    quick.preflight = { smoke: false, waitS: 5 };
    writeFileSync(join(dir, 'quick.yaml'), toYaml(quick));
    mkdirSync(join(dir, 'one'));
    mkdirSync(join(dir, 'two'));
    const a = captureIo({ cwd: dir });
    const b = captureIo({ cwd: dir });
    const [ca, cb] = await Promise.all([
      runMain(['run', '../quick.yaml'], { ...a.io, cwd: join(dir, 'one') }).catch(() => -1),
      runMain(['run', '../quick.yaml'], { ...b.io, cwd: join(dir, 'two') }).catch(() => -1),
    ]);
    expect(ca, a.err.join('')).toBe(0);
    expect(cb, b.err.join('')).toBe(0);
    const ports = [a, b].map((x) => {
      const cell = JSON.parse(
        readFileSync(join(runDirOf(x.out.join('')), 'sim-vllm/c2/r1/cell.json'), 'utf8'),
      );
      expect(cell.status).toBe('complete');
      const env = JSON.parse(readFileSync(join(runDirOf(x.out.join('')), 'environment.json'), 'utf8'));
      expect(env.servers.map((s: { port: number }) => s.port)).toContain(cell.orchestratorPort);
      return cell.orchestratorPort as number;
    });
    expect(ports[0]).not.toBe(ports[1]);
    expect(ports).not.toContain(1900);
  }, 120_000);
});

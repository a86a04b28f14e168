import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const io = () => {
  const c = captureIo();
  return { out: c.out, err: c.err, o: c.io };
};

describe('servelab run', () => {
  it('describes the W2 three-arm example without running it, and names each recipe that cannot start', async () => {
    // a PATH with `vllm` and `python` (the router arm's proxy) in it, as on the GPU machine
    const bin = mkdtempSync(join(tmpdir(), 'servelab-bin-'));
    for (const exe of ['vllm', 'python']) {
      writeFileSync(join(bin, exe), '#!/bin/sh\n');
      chmodSync(join(bin, exe), 0o755);
    }
    const c = captureIo({ env: { PATH: bin } });
    // the KV-TTL arm's fork lives at an absolute path this machine does not have: exit 3
    expect(await runMain(['run', '--dry-run', 'examples/w2-three-arms.yaml'], c.io)).toBe(3);
    expect(c.out.join('')).toMatch(
      /w2-three-arms: 3 arm\(s\) baseline\[command\], router\[command\], kv-ttl\[command\] x C=32\/64\/128 x 3 rep/,
    );
    expect(c.err.join('')).toMatch(
      /^error: servers\.kv-ttl-fork: cannot start continuum-1900: \/opt\/continuum\/\.venv\/bin\/vllm does not exist$/m,
    );
    expect(c.err.join('')).not.toMatch(/not on PATH/);
    // without vllm on PATH every vllm recipe is named, once each
    const x = captureIo({ env: { PATH: join(bin, 'none') } });
    expect(await runMain(['run', '--dry-run', 'examples/w2-three-arms.yaml'], x.io)).toBe(3);
    expect(x.err.join('')).toMatch(
      /server recipes cannot be started:\n {2}- servers\.\S+: cannot start \S+: vllm is not on PATH/,
    );
    expect(x.err.join('')).toMatch(/python is not on PATH/);
  });

  it('exits 2 with every spec error and its line:col', async () => {
    const x = io();
    const code = await runMain(['run', 'src/cli/commands/testdata-missing.yaml'], x.o);
    expect(code).toBe(2);
    expect(x.err.join('')).toMatch(/cannot read spec/);
    expect(x.err.join('')).toMatch(/hint: pass the path of a spec YAML file/);
  });
});

describe('servelab run end to end (simulator over HTTP, free ports)', () => {
  it('runs a small matrix and leaves records, per-cell summaries and the HTML report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-run-cli-'));
    const topology = join(process.cwd(), 'examples', 'w1-topology.yaml');
    writeFileSync(
      join(dir, 'tiny.yaml'),
      [
        'name: tiny',
        'seed: 2',
        'servers:',
        '  w1:',
        '    kind: sim',
        `    topology: ${JSON.stringify(topology)}`,
        '    overrides: { stepTimeMs: 1, freePorts: true }',
        'arms:',
        '  - name: sim-vllm',
        '    servers: w1',
        'workload:',
        '  generator:',
        '    count: 6',
        '    systemPromptTokens: 100',
        'agent:',
        '  orchestrator: /ckpt/Nemotron-Orchestrator-8B',
        '  timeScale: 0.01',
        '  expertMaxTokens: 64',
        '  maxTokens: 256',
        'concurrency: [2, 4]',
        'limits: { maxSteps: 30, maxTaskTimeS: 30, callTimeoutS: 10, watchdogS: 10, graceS: 0.5 }',
        'metrics: { intervalMs: 200 }',
        '',
      ].join('\n'),
    );
    const x = io();
    x.o.cwd = dir;
    const code = await runMain(['run', join(dir, 'tiny.yaml')], x.o);
    const out = x.out.join('');
    expect(code, x.err.join('')).toBe(0);
    const runDir = /run directory: (.+)/.exec(out)?.[1]?.trim();
    expect(runDir).toBeTruthy();
    for (const c of [2, 4]) {
      const cell = join(runDir!, 'sim-vllm', `c${c}`, 'r1');
      const tasks = readFileSync(join(cell, 'tasks.jsonl'), 'utf8').trim().split('\n');
      expect(tasks).toHaveLength(6);
      const summary = JSON.parse(readFileSync(join(cell, 'summary.json'), 'utf8')) as Record<string, unknown>;
      expect(JSON.stringify(summary)).toMatch(/makespan/);
      expect(readFileSync(join(cell, 'kv_timeseries.csv'), 'utf8')).toMatch(
        /^ts_iso,ts_unix,port,metric,value\n/,
      );
    }
    for (const f of ['summary.csv', 'compare.md', 'report.html'])
      expect(existsSync(join(runDir!, f)), f).toBe(true);
    expect(readFileSync(join(runDir!, 'report.html'), 'utf8')).toMatch(/<svg/);
    expect(out).toMatch(/report: .*report\.html/);
    // the analysis's windows side by side, one row per cell, with the counting rule stated
    expect(out).toMatch(
      /ok tasks\/min \(ok steps\/s\) per window, all-ended tasks\/min beside each: active = KV > 0\.7 on port \d+/,
    );
    expect(out).toMatch(/A task counts when it ENDS inside the window/);
    expect(out).toMatch(
      /cell\s+active window\s+all ended\s+client-side window\s+all ended\s+makespan\s+all ended\s+task time p50 \/ p95 s/,
    );
    for (const c of [2, 4])
      expect(out).toMatch(
        new RegExp(
          `sim-vllm/c${c}/r1\\s+(-|[\\d.]+ \\([\\d.]+\\))\\s+(-|[\\d.]+)\\s+[\\d.]+ \\([\\d.]+\\)\\s+[\\d.]+\\s+[\\d.]+ \\([\\d.]+\\)\\s+[\\d.]+`,
        ),
      );
  }, 60_000);

  it('external endpoints that are down: the cell fails its preflight, exit 1, and no window table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-run-down-'));
    writeFileSync(
      join(dir, 'down.yaml'),
      [
        'name: down',
        'servers:',
        '  ext:',
        '    kind: external',
        '    endpoints: { "/ckpt/Nemotron-Orchestrator-8B": [{ ip_addr: "127.0.0.1", port: "9" }] }',
        'arms: [{ name: a, servers: ext }]',
        'workload: { generator: { count: 2 } }',
        'agent: { orchestrator: /ckpt/Nemotron-Orchestrator-8B }',
        'concurrency: [2]',
        'preflight: { waitS: 1 }',
        '',
      ].join('\n'),
    );
    const x = io();
    x.o.cwd = dir;
    expect(await runMain(['run', 'down.yaml'], x.o)).toBe(1);
    const err = x.err.join('');
    expect(err).toMatch(/\[a\/c2\/r1\] cell failed: preflight failed/);
    expect(err).toMatch(/not listening yet: is the SSH forward up\?/);
    expect(err).toMatch(/1 cell\(s\) failed: a\/c2\/r1/);
    expect(x.out.join('')).not.toMatch(/per window/);
  }, 30_000);
});

/**
 * Whole-experiment speed in virtual time (agent driver, records, KV sampling, analysis and every
 * expert engine included): simulated seconds per wall second.
 *
 *   npm run bench -- w2-speed --part w2        # examples/w2-sim-three-arms.yaml, 3 arms x C 32/64/128 x 3 reps = 27 cells
 *   npm run bench -- w2-speed --part scale     # the baseline arm at C = 32, 128, 512 (tasks: 2 x C, at least 278)
 *   npm run bench -- w2-speed --part cluster   # 16 orchestrator replicas behind the router, C = 1,024 (experts x4)
 *   (--count N: tasks per cell; --cpu-prof: node's --cpu-prof writes the profile, see BENCHMARKS)
 *
 * Prints one line per part: cells, simulated s, wall s, x real time, peak RSS.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCalibration } from './w2-calibration.js';

const require = createRequire(import.meta.url);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 200);
rssTimer.unref();

function report(
  part: string,
  rows: { simS: number; c: number; arm: string }[],
  wallS: number,
  extra = '',
): void {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const simS = rows.reduce((a, r) => a + r.simS, 0);
  process.stdout.write(
    `${part}: ${rows.length} cells, ${simS.toFixed(0)} simulated s in ${wallS.toFixed(1)} wall s = ${(simS / wallS).toFixed(0)}x real time; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB${extra}\n`,
  );
}

const EXAMPLE = resolve('examples/w2-sim-three-arms.yaml');

/** The example with absolute topology paths, changed by `edit`, written to a temp file. */
// biome-ignore lint/suspicious/noExplicitAny: a YAML document edited in place
function variant(edit: (spec: Record<string, any>) => void): string {
  const spec = parse(readFileSync(EXAMPLE, 'utf8'));
  for (const s of Object.values(spec.servers) as { topology: unknown }[])
    if (typeof s.topology === 'string') s.topology = resolve('examples', s.topology);
  edit(spec);
  const f = join(mkdtempSync(join(tmpdir(), 'servelab-speed-')), 'spec.yaml');
  writeFileSync(f, stringify(spec));
  return f;
}

// --heap-snapshot-after S: a V8 heap snapshot S wall seconds in (where the memory goes)
const snapAfter = arg('heap-snapshot-after');
if (snapAfter)
  setTimeout(() => {
    const { writeHeapSnapshot } = require('node:v8') as typeof import('node:v8');
    process.stderr.write(`heap snapshot: ${writeHeapSnapshot()}\n`);
  }, Number(snapAfter) * 1000).unref();

const part = arg('part') ?? 'w2';
const count = arg('count') ? Number(arg('count')) : undefined;

if (part === 'w2') {
  const r = await runCalibration({
    spec: EXAMPLE,
    arms: ['baseline', 'router', 'kv-ttl'],
    reps: 3,
    quiet: true,
    ...(count ? { count } : {}),
  });
  report('w2 (3 arms x C 32/64/128 x 3 reps)', r.rows, r.wallS);
} else if (part === 'scale') {
  for (const c of [32, 128, 512]) {
    const tasks = Math.max(278, 2 * c);
    const spec = variant((s) => {
      // more tasks than tau2's 278 where C needs them: each domain scaled alike
      const k = tasks / 278;
      s.workload.generator.overrides = {
        retail: { tasks: Math.round(114 * k) },
        telecom: { tasks: Math.round(114 * k) },
        airline: { tasks: Math.round(50 * k) },
      };
    });
    const t0 = performance.now();
    const r = await runCalibration({
      spec,
      arms: ['baseline'],
      concurrency: [c],
      quiet: true,
      ...(count ? { count } : {}),
    });
    const calls = r.rows.reduce((a, x) => a + x.stepsPerS * x.simS, 0);
    report(
      `scale C=${c} (${tasks} tasks)`,
      r.rows,
      (performance.now() - t0) / 1000,
      `; ~${calls.toFixed(0)} orchestrator calls`,
    );
  }
} else if (part === 'cluster') {
  const c = Number(arg('c') ?? 1024);
  const spec = variant((s) => {
    const topo = {
      servers: [
        {
          name: 'orchestrator',
          model: '/ckpt/Nemotron-Orchestrator-8B',
          persona: 'orchestrator',
          gpu: 'RTX-5090-32GB',
          port: 1900,
          dp: 16,
          gpu_memory_utilization: 0.95,
        },
        {
          name: 'expert-1',
          model: 'openai/gpt-oss-20b',
          persona: 'gpt-oss',
          gpu: 'H100-SXM-80GB',
          dp: 16,
          port: 3000,
        },
        {
          name: 'expert-2',
          model: 'Qwen/Qwen3-32B-FP8',
          persona: 'qwen3',
          gpu: 'H100-SXM-80GB',
          dp: 8,
          port: 3100,
        },
        {
          name: 'expert-3',
          model: 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8',
          persona: 'plain',
          gpu: 'H100-SXM-80GB',
          tp: 2,
          dp: 8,
          port: 3200,
        },
      ],
    };
    s.servers = {
      cluster: { kind: 'sim', topology: topo, router: { mode: 'kv-threshold', serves: 'orchestrator' } },
    };
    s.arms = [{ name: 'router', servers: 'cluster', release: true }];
    const k = (count ?? c) / 278;
    s.workload.generator.overrides = {
      retail: { tasks: Math.ceil(114 * k) },
      telecom: { tasks: Math.ceil(114 * k) },
      airline: { tasks: Math.ceil(50 * k) },
    };
    s.workload.generator.count = count ?? c;
    s.concurrency = [c];
  });
  const r = await runCalibration({ spec, quiet: true });
  const row = r.rows[0]!;
  report(
    `cluster (16 orchestrators behind the router, C=${c}, ${count ?? c} tasks)`,
    r.rows,
    r.wallS,
    `; ${row.tasksPerMin.toFixed(1)} tasks/min, ${row.stepsPerS.toFixed(1)} orchestrator steps/s (simulated)`,
  );
}
clearInterval(rssTimer);

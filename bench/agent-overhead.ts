/**
 * Agent-driver overhead: client CPU per agent step, and the largest concurrency this machine
 * drives before the harness (not the server) is the limit.
 *
 *   npx tsx bench/agent-overhead.ts [--c 32,64,128,256] [--tasks-per-slot 2] [--step-ms 1]
 *
 * The simulated W1 servers run in a CHILD process (so the parent's process.cpuUsage is the
 * harness alone): orchestrator persona, gpt-oss and qwen3 experts, a fixed step time and room
 * for every sequence. The parent runs the real driver (live programs, HTTP transport, records
 * written to a temp dir) at each C and reports harness CPU ms per orchestrator step, harness CPU
 * as % of one core, event-loop delay p99, steps/s, and the server process's CPU (from /proc).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { driveCell, type WorkItem } from '../src/agent/driver.js';
import { JsonlWriter } from '../src/agent/jsonl-writer.js';
import { PoolSet } from '../src/agent/pool.js';
import type { ProgramContext } from '../src/agent/runtime.js';
import { generateTasks } from '../src/agent/taskset.js';
import { createHttpTransport } from '../src/client/index.js';
import type { Endpoint } from '../src/loadgen/transport.js';
import { startSimServers } from '../src/sim/server/index.js';

const ORCH = '/ckpt/Nemotron-Orchestrator-8B';
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] as string) : def;
};

async function serve(): Promise<void> {
  const stepMs = Number(arg('step-ms', '1'));
  const common = { stepTimeMs: stepMs, port: 0, maxNumSeqs: 4096, gpu: 'H200-141GB' };
  const sim = await startSimServers({
    seed: 1,
    servers: [
      { model: ORCH, persona: 'orchestrator', ...common },
      { model: 'openai/gpt-oss-20b', persona: 'gpt-oss', dp: 2, ...common },
      { model: 'Qwen/Qwen3-32B-FP8', persona: 'qwen3', ...common },
    ],
  });
  process.stdout.write(
    `${JSON.stringify(sim.endpoints.map((e) => ({ url: e.url, model: e.model, port: e.port })))}\n`,
  );
  process.stdin.resume();
  process.stdin.on('end', () => void sim.close().then(() => process.exit(0)));
}

function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function main(): Promise<void> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, new URL(import.meta.url).pathname, '--serve', '--step-ms', arg('step-ms', '1')],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const first = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  );
  const eps = JSON.parse(first) as { url: string; model: string; port: number }[];
  const map = new Map<string, Endpoint[]>();
  for (const e of eps)
    map.set(e.model, [
      ...(map.get(e.model) ?? []),
      { baseUrl: `${e.url}/v1`, model: e.model, label: String(e.port) },
    ]);
  const dir = mkdtempSync(join(tmpdir(), 'agent-overhead-'));
  const cs = arg('c', '32,64,128,256').split(',').map(Number);
  const perSlot = Number(arg('tasks-per-slot', '2'));
  const rows: string[] = [];
  for (const c of cs) {
    const items: WorkItem[] = generateTasks({
      seed: c,
      scale: 1,
      count: Math.min(278, c * perSlot),
      overrides: Object.fromEntries(
        ['retail', 'telecom', 'airline'].map((d) => [d, { userTurns: { min: 0, max: 1 } }]),
      ),
    }).map((task) => ({ kind: 'live', task }));
    while (items.length < c * perSlot) {
      const base = items[items.length % 278] as Extract<WorkItem, { kind: 'live' }>;
      items.push({ kind: 'live', task: { ...base.task, id: `${base.task.id}-x${items.length}` } });
    }
    const steps = new JsonlWriter(join(dir, `steps-c${c}.jsonl`));
    const tasks = new JsonlWriter(join(dir, `tasks-c${c}.jsonl`));
    let orch = 0;
    let errors = 0;
    const transport = createHttpTransport({ connections: c * 2 });
    const ctx: ProgramContext = {
      transport,
      pools: new PoolSet(map, 'random', 1),
      config: {
        orchestrator: ORCH,
        experts: { 'expert-1': 'openai/gpt-oss-20b', 'expert-2': 'Qwen/Qwen3-32B-FP8' },
        stream: true,
        maxTokens: 8000,
        expertMaxTokens: 512,
        temperature: 1,
        userMode: 'scripted',
        systemPromptTokens: 400,
        timeScale: 0.05,
        programFields: ['program_id', 'job_id', 'is_last_step', 'this_func_call', 'last_func_call'],
        replayOutput: 'directive',
        extraBody: {},
      },
      limits: {
        maxSteps: 200,
        maxTaskTimeMs: 600_000,
        callTimeoutMs: 120_000,
        retry: { maxAttempts: 3, baseMs: 100, capMs: 1000 },
      },
      cellTag: `bench/c${c}`,
      now: () => performance.timeOrigin + performance.now(),
      onStep: (r) => {
        steps.write(r);
        if (r.kind === 'orchestrator') orch++;
        if (r.status !== 'ok') errors++;
      },
      onProgress: () => {},
      onNote: () => {},
    };
    const eld = monitorEventLoopDelay({ resolution: 10 });
    const server0 = procCpuMs(child.pid as number);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    eld.enable();
    await driveCell({
      items,
      concurrency: c,
      ctx,
      graceMs: 1000,
      watchdogMs: 60_000,
      onTask: (t) => tasks.write(t),
    });
    eld.disable();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const serverMs = procCpuMs(child.pid as number) - server0;
    steps.close();
    tasks.close();
    await transport.close();
    rows.push(
      `| ${c} | ${items.length} | ${orch} | ${errors} | ${(wallMs / 1000).toFixed(1)} | ${(orch / (wallMs / 1000)).toFixed(1)} | ` +
        `${(cpuMs / orch).toFixed(2)} | ${((cpuMs / wallMs) * 100).toFixed(0)} | ${(eld.percentile(99) / 1e6).toFixed(1)} | ${((serverMs / wallMs) * 100).toFixed(0)} |`,
    );
    process.stderr.write(`${rows.at(-1)}\n`);
  }
  child.stdin?.end();
  process.stdout.write(
    `| C | tasks | orchestrator steps | errors | wall s | steps/s | harness CPU ms/step | harness CPU % of 1 core | event-loop delay p99 ms | server CPU % of 1 core |\n|---|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`,
  );
}

if (process.argv.includes('--serve')) void serve();
else void main();

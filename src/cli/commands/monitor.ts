/**
 * `servelab monitor`: every N seconds one compact block (health, KV / running / waiting per
 * endpoint, GPU use, run progress). Plain lines: fine in tmux and in a log file.
 */
import type { Command } from 'commander';
import { EXIT, ServelabError } from '../../errors.js';
import { endpointsFromFlags, parseDurationMs } from '../../preflight/flags.js';
import { createMonitor } from '../../preflight/monitor.js';
import { setTimer } from '../../timers.js';
import { addServerAuthOptions, type ServerAuthFlags, serverAuth } from '../server-auth.js';
import type { CommandContext } from './index.js';

interface MonitorFlags extends ServerAuthFlags {
  url?: string[];
  config?: string;
  model?: string[];
  interval: string;
  run?: string;
  count?: string;
  duration?: string;
  gpu: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimer(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function monitorAction(f: MonitorFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  // keys first: a server echoing one in a body it sends is scrubbed from every block printed
  const { headers } = serverAuth(f, io);
  const endpoints = f.url || f.config ? endpointsFromFlags(f, io.cwd).endpoints : [];
  if (endpoints.length === 0 && !f.run)
    throw new ServelabError('BAD_FLAG', 'nothing to monitor: give --url, --config and/or --run DIR');
  const intervalMs = parseDurationMs(f.interval, '--interval');
  const count = f.count !== undefined ? Number(f.count) : undefined;
  if (count !== undefined && !(Number.isInteger(count) && count >= 1))
    throw new ServelabError('BAD_FLAG', `--count "${f.count}" is not a positive integer`);
  const durationMs = f.duration ? parseDurationMs(f.duration, '--duration') : undefined;
  const mon = createMonitor({
    endpoints: endpoints.map((e) => ({ url: e.url, label: e.label })),
    ...(f.run ? { runDir: f.run } : {}),
    gpu: f.gpu,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    timeoutMs: Math.max(200, Math.min(3000, intervalMs * 0.8)),
  });
  const t0 = Date.now();
  for (let k = 0; ; k++) {
    const tick = await mon.tick();
    io.stdout(tick.text);
    if (count !== undefined && k + 1 >= count) break;
    // absolute schedule: tick k+1 is due at t0 + (k+1) * interval
    const due = t0 + (k + 1) * intervalMs;
    if (durationMs !== undefined && due - t0 > durationMs) break;
    await sleep(Math.max(0, due - Date.now()), io.signal);
    if (io.signal.aborted) return EXIT.interrupted;
  }
  return EXIT.ok;
}

export function registerMonitor(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('monitor')
    .description(
      'watch endpoints (health, KV, running / waiting), GPUs and a run directory, one block per tick',
    )
    .option('--url <url>', 'a server URL (repeatable)', collect)
    .option('--config <file>', 'the model-config JSON: watch its endpoints')
    .option('--model <name>', 'with --config: only this model (repeatable)', collect)
    .option('--interval <dur>', 'time between blocks', '5s')
    .option('--run <dir>', 'a servelab run directory: progress of its newest cell')
    .option('--count <n>', 'stop after n blocks')
    .option('--duration <dur>', 'stop after this long')
    .option('--no-gpu', 'skip nvidia-smi');
  addServerAuthOptions(cmd, '/health and /metrics').action(async (flags: MonitorFlags) => {
    ctx.setExit(await monitorAction(flags, ctx));
  });
}

/**
 * Benchmark: the simulator's real-time HTTP front under 2,000 concurrent streams.
 *
 *   npx tsx bench/sim-realtime-front.ts [--streams 2000] [--seconds 15] [--warmup 5]
 *        [--gpu H200-141GB] [--model meta-llama/Llama-3.1-8B-Instruct] [--output-tokens 128]
 *
 * The server (one engine + HTTP front) runs in this process; the client runs in a child process
 * (plain node:http, closed loop, one keep-alive socket per stream) so it does not perturb the
 * server's event loop. Measured inside the server: step lateness = actual - intended time of
 * every scheduled engine event (step ends), p50/p99/max; server CPU (user+sys of this process
 * only) and event-loop utilisation over the measurement window.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startSimServers } from '../src/sim/server/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.ceil(idx);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (idx - lo);
}

/** client mode: C concurrent closed-loop streams until the deadline; prints one JSON line */
async function client(): Promise<void> {
  const url = new URL(arg('client', ''));
  const streams = Number(arg('streams', '2000'));
  const seconds = Number(arg('run-seconds', '20'));
  const outputTokens = Number(arg('output-tokens', '128'));
  const agent = new Agent({ keepAlive: true, maxSockets: streams });
  const deadline = performance.now() + seconds * 1000;
  const body = JSON.stringify({
    model: 'bench',
    messages: [{ role: 'user', content: 'tell me a story about a little state in the world '.repeat(6) }],
    max_tokens: outputTokens,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  let done = 0;
  let failed = 0;
  let chunks = 0;
  let bytes = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let tail = '';
          res.setEncoding('utf8');
          res.on('data', (s: string) => {
            bytes += s.length;
            let i = s.indexOf('\n\n');
            while (i >= 0) {
              chunks++;
              i = s.indexOf('\n\n', i + 2);
            }
            tail = (tail + s).slice(-32);
          });
          res.on('end', () => {
            if (tail.includes('[DONE]')) done++;
            else failed++;
            resolve();
          });
          res.on('error', () => {
            failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(body);
    });
  const loop = async () => {
    while (performance.now() < deadline) await one();
  };
  await Promise.all(Array.from({ length: streams }, loop));
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ done, failed, chunks, bytes })}\n`);
}

async function server(): Promise<void> {
  const streams = Number(arg('streams', '2000'));
  const seconds = Number(arg('seconds', '15'));
  const warmup = Number(arg('warmup', '5'));
  const gpu = arg('gpu', 'H200-141GB');
  const model = arg('model', 'meta-llama/Llama-3.1-8B-Instruct');
  const outputTokens = arg('output-tokens', '128');

  let measuring = false;
  let late = new Float64Array(1 << 16);
  let nLate = 0;
  let steps = 0;
  let batchSum = 0;
  let intendedSum = 0;
  const sim = await startSimServers({
    servers: [
      {
        model,
        servedModelName: 'bench',
        gpu,
        port: 0,
        maxNumSeqs: Math.max(streams, 256),
        maxModelLen: 4096,
      },
    ],
    onLateness: (ms) => {
      if (!measuring) return;
      if (nLate === late.length) {
        const next = new Float64Array(late.length * 2);
        next.set(late);
        late = next;
      }
      late[nLate++] = ms;
    },
    onStep: (_r, info) => {
      if (!measuring) return;
      steps++;
      batchSum += info.numRunning;
      intendedSum += info.endMs - info.startMs;
    },
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const url = `${sim.endpoints[0]!.url}/v1/chat/completions`;
  const self = fileURLToPath(import.meta.url);
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      self,
      '--client',
      url,
      '--streams',
      String(streams),
      '--run-seconds',
      String(warmup + seconds + 2),
      '--output-tokens',
      outputTokens,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let childOut = '';
  child.stdout.on('data', (b: Buffer) => {
    childOut += b.toString();
  });
  const childDone = new Promise<void>((r) => child.on('exit', () => r()));

  await new Promise((r) => setTimeout(r, warmup * 1000));
  const snap0 = sim.endpoints[0]!.service.engine.snapshot();
  const lag0 = sim.endpoints[0]!.service.engine.realTimeLagMs;
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const snap1 = sim.endpoints[0]!.service.engine.snapshot();
  const lagMs = sim.endpoints[0]!.service.engine.realTimeLagMs - lag0;
  await childDone;
  await sim.close();

  const sorted = late.slice(0, nLate).sort();
  const genTok = snap1.counters.generationTokens - snap0.counters.generationTokens;
  const res = {
    streams,
    gpu,
    model,
    measuredSeconds: Number(wallS.toFixed(2)),
    engineEvents: nLate,
    steps,
    meanRunning: steps ? Number((batchSum / steps).toFixed(1)) : 0,
    meanStepMs: steps ? Number(((wallS * 1000) / steps).toFixed(2)) : 0,
    meanModelledStepMs: steps ? Number((intendedSum / steps).toFixed(2)) : 0,
    serverCpuUsPerChunk: 0,
    // time the engine fell behind its model beyond its 10 ms catch-up allowance (host too slow)
    realTimeLagMs: Number(lagMs.toFixed(1)),
    latenessMs: {
      p50: Number(pct(sorted, 50).toFixed(3)),
      p90: Number(pct(sorted, 90).toFixed(3)),
      p99: Number(pct(sorted, 99).toFixed(3)),
      max: Number((sorted[sorted.length - 1] ?? Number.NaN).toFixed(3)),
    },
    serverCpuPercentOfOneCore: Number((((cpu.user + cpu.system) / 1e3 / (wallS * 1000)) * 100).toFixed(1)),
    eventLoopUtilization: Number(elu.utilization.toFixed(3)),
    outputTokensPerSec: Math.round(genTok / wallS),
    client: JSON.parse(childOut.trim().split('\n').pop() || '{}'),
    loadAverage1m: (await import('node:os')).loadavg()[0]!.toFixed(2),
  };
  res.serverCpuUsPerChunk = Number(((cpu.user + cpu.system) / Math.max(1, batchSum)).toFixed(1));
  process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
  process.stdout.write(
    `step lateness p50 ${res.latenessMs.p50} ms, p99 ${res.latenessMs.p99} ms (target p99 < 5 ms); ` +
      `server CPU ${res.serverCpuPercentOfOneCore}% of one core; ${res.outputTokensPerSec} output tok/s; ` +
      `fell behind the model by ${(res.realTimeLagMs / 1000).toFixed(2)} s in ${res.measuredSeconds} s\n`,
  );
}

if (process.argv.includes('--client')) await client();
else await server();

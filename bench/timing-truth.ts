/**
 * Timing truth: how far the client's TTFT is from the server's own first-token time, as load
 * grows, and whether the client's saturation warning fires before the error matters.
 * The server runs in a separate process and reports when it wrote the first token
 * (`servelab.first_token_ms` in the final usage chunk, the same field the simulator sends);
 * both sides stamp performance.timeOrigin + performance.now().
 *
 *   npm run build && npx tsx bench/timing-truth.ts [--target sim|script] [--streams 1,100,1000]
 *     [--requests-per-stream 3] [--chunks 20] [--prompt-len 1000] [--workers 0]   (script only: [--gap-ms 20] [--first-ms 50])
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe } from '../src/analysis/stats.js';
import { runStage } from '../src/loadgen/run-stage.js';
import type { WorkloadItem } from '../src/workload/item.js';
import { syntheticItems } from '../src/workload/synthetic.js';

const perS = (n: number, s: number) => (s > 0 ? n / s : 0);

function arg(name: string, dflt: string): string {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 && process.argv[k + 1] ? process.argv[k + 1]! : dflt;
}

const SIM_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** `sim`: the simulator's HTTP front (real engine, real time); `script`: the scripted test server. */
async function startServer(target: string): Promise<{ url: string; child: ChildProcess }> {
  let code: string;
  if (target === 'sim') {
    const mod = fileURLToPath(new URL('../src/sim/server/index.js', import.meta.url));
    code = `import { startSimServers } from ${JSON.stringify(mod)}; const s = await startSimServers({ servers: [{ model: ${JSON.stringify(SIM_MODEL)}, port: 0, maxNumSeqs: 1024 }] }); process.stdout.write(s.endpoints[0].url + '/v1\\n');`;
  } else {
    const mod = fileURLToPath(new URL('../src/client/testing/sse-server.js', import.meta.url));
    code = `import { startScriptServer } from ${JSON.stringify(mod)}; const s = await startScriptServer(); process.stdout.write(s.url + '\\n');`;
  }
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (c) => reject(new Error(`server exited ${c} (did you run npm run build?)`)));
  });
  return { url, child };
}

async function main() {
  const streamsList = arg('streams', '1,100,1000').split(',').map(Number);
  const perStream = Number(arg('requests-per-stream', '3'));
  const gapMs = Number(arg('gap-ms', '20'));
  const chunks = Number(arg('chunks', '20'));
  const firstMs = Number(arg('first-ms', '50'));
  const workers = Number(arg('workers', '0'));
  const target = arg('target', 'sim');
  const promptLen = Number(arg('prompt-len', '1000'));
  const { url, child } = await startServer(target);
  // distinct prompts: no prefix-cache hits between requests
  const items: WorkloadItem[] = syntheticItems({
    count: 500,
    input: { kind: 'fixed', value: promptLen },
    output: { kind: 'fixed', value: chunks },
    seed: 1,
  });
  console.log(
    target === 'sim'
      ? `server: the simulator's HTTP front (${SIM_MODEL}, default GPU, max_num_seqs 1024) in a separate process; prompt ${promptLen}, output ${chunks} tokens; client workers ${workers}`
      : `server: scripted SSE server in a separate process, first token after ${firstMs} ms, then ${chunks} chunks ${gapMs} ms apart; client workers ${workers}`,
  );
  console.log(
    '| streams | events/s received | error mean ms | error p50 | error p99 | mean error / TTFT | client TTFT p50 ms | loop busy | timer delay p99 ms | warning |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  try {
    for (const streams of streamsList) {
      const r = await runStage({
        items,
        template: {
          endpoint: { baseUrl: url, model: target === 'sim' ? SIM_MODEL : 'm' },
          api: 'chat',
          stream: true,
          minTokens: true,
          ignoreEos: false,
          ...(target === 'sim'
            ? {}
            : { extraHeaders: { 'x-test': JSON.stringify({ chunks, gapMs, firstDelayMs: firstMs }) } }),
        },
        arrivals: { kind: 'closed', concurrency: streams },
        seed: 0,
        numPrompts: streams * perStream,
        // enough warm-up to JIT both sides before measuring
        warmup: Math.min(Math.max(streams, 20), 200),
        workers,
      });
      const errs: number[] = [];
      for (const rec of r.records)
        if (
          !rec.warmup &&
          rec.status === 'ok' &&
          rec.firstTokenMs !== undefined &&
          rec.serverFirstTokenMs !== undefined
        )
          errs.push(rec.firstTokenMs - rec.serverFirstTokenMs);
      const d = describe(errs, [50, 99]);
      const ttft = r.summary.latency.ttftMs;
      const sc = r.summary.selfCheck!;
      const loops = sc.loops.length > 1 ? sc.loops.slice(1) : sc.loops;
      const busy = Math.max(...loops.map((l) => l.utilisation));
      const delay = Math.max(...loops.map((l) => l.delayP99Ms));
      console.log(
        `| ${streams} | ${Math.round(perS(r.summary.tokens.output + r.summary.tokens.outputIncomplete, r.summary.durationS))} | ${d.mean.toFixed(3)} | ${d.percentiles[50]!.toFixed(3)} | ${d.percentiles[99]!.toFixed(3)} | ${((100 * d.mean) / ttft.mean).toFixed(2)} % | ${ttft.percentiles[50]!.toFixed(1)} | ${(busy * 100).toFixed(0)} % | ${delay.toFixed(1)} | ${sc.warning ? 'yes' : 'no'} |`,
      );
      if (r.summary.counts.ok !== r.summary.counts.measured)
        console.log(`  (ok ${r.summary.counts.ok} of ${r.summary.counts.measured})`);
    }
  } finally {
    child.kill();
  }
}

await main();

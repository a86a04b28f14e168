/**
 * Timing truth: how far the client's TTFT is from the server's own first-token time, as load
 * grows, and whether the client's saturation warning fires before the error matters.
 * The server runs in a separate process and reports when it wrote the first token
 * (`servelab.first_token_ms` in the final usage chunk, the same field the simulator sends);
 * both sides stamp performance.timeOrigin + performance.now().
 *
 *   npm run build && npx tsx bench/timing-truth.ts [--streams 1,100,1000] [--requests-per-stream 3]
 *     [--gap-ms 20] [--chunks 20] [--first-ms 50] [--workers 0]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe } from '../src/analysis/stats.js';
import { runStage } from '../src/loadgen/run-stage.js';
import type { WorkloadItem } from '../src/workload/item.js';

function arg(name: string, dflt: string): string {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 && process.argv[k + 1] ? process.argv[k + 1]! : dflt;
}

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const mod = fileURLToPath(new URL('../dist/client/testing/sse-server.js', import.meta.url));
  const code = `import { startScriptServer } from ${JSON.stringify(mod)}; const s = await startScriptServer(); process.stdout.write(s.url + '\\n');`;
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
  const { url, child } = await startServer();
  const items: WorkloadItem[] = [{ prompt: 'the of and', promptTokens: 3, outputTokens: chunks }];
  console.log(
    `server: separate process, first token after ${firstMs} ms, then ${chunks} chunks ${gapMs} ms apart; client workers ${workers}`,
  );
  console.log(
    '| streams | paced events/s | error mean ms | error p50 | error p99 | mean error / TTFT | client TTFT p50 ms | loop busy | timer delay p99 ms | warning |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  try {
    for (const streams of streamsList) {
      const r = await runStage({
        items,
        template: {
          endpoint: { baseUrl: url, model: 'm' },
          api: 'chat',
          stream: true,
          minTokens: false,
          ignoreEos: false,
          extraHeaders: { 'x-test': JSON.stringify({ chunks, gapMs, firstDelayMs: firstMs }) },
        },
        arrivals: { kind: 'closed', concurrency: streams },
        seed: 0,
        numPrompts: streams * perStream,
        warmup: Math.min(streams, 50),
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
        `| ${streams} | ${Math.round((streams * 1000) / gapMs)} | ${d.mean.toFixed(3)} | ${d.percentiles[50]!.toFixed(3)} | ${d.percentiles[99]!.toFixed(3)} | ${((100 * d.mean) / ttft.mean).toFixed(2)} % | ${ttft.percentiles[50]!.toFixed(1)} | ${(busy * 100).toFixed(0)} % | ${delay.toFixed(1)} | ${sc.warning ? 'yes' : 'no'} |`,
      );
      if (r.summary.counts.ok !== r.summary.counts.measured)
        console.log(`  (ok ${r.summary.counts.ok} of ${r.summary.counts.measured})`);
    }
  } finally {
    child.kill();
  }
}

await main();

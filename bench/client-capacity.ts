/**
 * Client capacity: SSE events/s our client sustains against a server faster than itself, next
 * to a raw byte reader on the same server in the same run (the physical limit of this machine).
 * The server is a separate process that writes pre-built chunks in batches.
 *
 *   npm run build && npx tsx bench/client-capacity.ts [--streams 256,4000] [--events 1000000] [--workers 2] [--reps 3]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Pool } from 'undici';
import { runStage } from '../src/loadgen/run-stage.js';
import { workersAvailable } from '../src/loadgen/workers.js';
import type { WorkloadItem } from '../src/workload/item.js';

const SERVER = `
import http from 'node:http';
const ev = (d) => 'data: ' + JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: d, finish_reason: null }], usage: null }) + '\\n\\n';
const EV = ev({ content: ' the' });
const BATCH = 64;
const block = EV.repeat(BATCH);
const tail = 'data: ' + JSON.stringify({ id: 'chatcmpl-x', choices: [], usage: { prompt_tokens: 4, completion_tokens: 0, total_tokens: 4 } }) + '\\n\\ndata: [DONE]\\n\\n';
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const n = Number(req.headers['x-events'] ?? 100);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(ev({ role: 'assistant', content: '' }));
    let left = n;
    const pump = () => {
      while (left > 0) {
        const k = Math.min(BATCH, left);
        left -= k;
        if (!res.write(k === BATCH ? block : EV.repeat(k))) { res.once('drain', pump); return; }
      }
      res.end(tail);
    };
    pump();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;
const EVENT_BYTES = Buffer.byteLength(
  `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: ' the' }, finish_reason: null }], usage: null })}\n\n`,
);

function arg(name: string, dflt: string): string {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 && process.argv[k + 1] ? process.argv[k + 1]! : dflt;
}

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** The physical limit: read the same streams as bytes, no decoding or parsing. */
async function rawReader(url: string, streams: number, events: number): Promise<number> {
  const pool = new Pool(url, { connections: streams, pipelining: 1 });
  const t0 = performance.now();
  let bytes = 0;
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const res = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-events': String(events) },
        body: '{"model":"m","stream":true}',
      });
      for await (const b of res.body) bytes += (b as Buffer).length;
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await pool.destroy();
  return bytes / EVENT_BYTES / s;
}

async function client(url: string, streams: number, events: number, workers: number) {
  const items: WorkloadItem[] = [{ prompt: 'the of and', promptTokens: 3, outputTokens: events }];
  const r = await runStage({
    items,
    template: {
      endpoint: { baseUrl: `${url}/v1`, model: 'm' },
      api: 'chat',
      stream: true,
      minTokens: false,
      ignoreEos: false,
      extraHeaders: { 'x-events': String(events) },
    },
    arrivals: { kind: 'closed', concurrency: streams },
    seed: 0,
    numPrompts: streams,
    workers,
  });
  let ev = 0;
  for (const rec of r.records) ev += rec.chunkOffsetsMs.length;
  const s = (r.outcome.endMs - r.outcome.startMs) / 1000;
  return { eventsPerS: ev / s, ok: r.summary.counts.ok, warning: r.summary.selfCheck?.warning };
}

async function main() {
  const streamsList = arg('streams', '256,4000').split(',').map(Number);
  const totalEvents = Number(arg('events', '1000000'));
  const workers = Number(arg('workers', String(Math.max(2, Math.min(4, availableParallelism() - 1)))));
  if (!workersAvailable())
    throw new Error('dist/ is missing: run `npm run build` first (workers run the compiled code)');
  const { url, child } = await startServer();
  console.log(
    `cores ${availableParallelism()}, node ${process.version}, ${totalEvents} events per run, event ${EVENT_BYTES} B`,
  );
  const reps = Number(arg('reps', '3'));
  console.log(`best of ${reps} interleaved runs (raw, 1 loop, sharded) per row; medians in brackets`);
  console.log(
    `| streams | raw reader ev/s | client, 1 loop ev/s | 1 loop / raw | client, ${workers} workers ev/s | sharded / 1 loop |`,
  );
  console.log('|---|---|---|---|---|---|');
  const best = (xs: number[]) => Math.max(...xs);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const fmt = (xs: number[]) => `${Math.round(best(xs))} (${Math.round(med(xs))})`;
  try {
    for (const streams of streamsList) {
      const events = Math.max(1, Math.round(totalEvents / streams));
      await rawReader(url, Math.min(streams, 64), 200); // warm the JIT on both sides
      const raw: number[] = [];
      const one: number[] = [];
      const sh: number[] = [];
      let notOk = '';
      for (let k = 0; k < reps; k++) {
        raw.push(await rawReader(url, streams, events));
        const a = await client(url, streams, events, 0);
        const b = await client(url, streams, events, workers);
        one.push(a.eventsPerS);
        sh.push(b.eventsPerS);
        if (a.ok !== streams || b.ok !== streams) notOk += ` run ${k}: ok ${a.ok} / ${b.ok} of ${streams};`;
      }
      console.log(
        `| ${streams} | ${fmt(raw)} | ${fmt(one)} | ${(best(one) / best(raw)).toFixed(2)} | ${fmt(sh)} | ${(best(sh) / best(one)).toFixed(2)} |`,
      );
      if (notOk) console.log(`  (not every stream finished:${notOk})`);
    }
  } finally {
    child.kill();
  }
}

await main();

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for a vLLM backend behind the router: it records every request body it
 * gets, serves a /metrics page whose KV capacity and usage the test sets, and answers chat calls
 * with a fixed SSE stream written in separate pieces (or a chosen error status and body).
 */
export interface RecordingBackend {
  url: string;
  bodies: Record<string, unknown>[];
  /** the exact bytes of the stream it sends (`sse(n)`) */
  streamBytes: Buffer;
  set(o: { numGpuBlocks?: number; blockSize?: number; kvUsageFrac?: number; gapMs?: number }): void;
  /** stream pieces written so far (all calls) */
  piecesWritten(): number;
  /** the next chat call gets this status and body instead of a stream */
  failNext(status: number, body: string): void;
  close(): Promise<void>;
}

export const STREAM_PIECES = [
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n',
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}\n\n',
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo ünïcode"},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}\n\n',
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":120,"total_tokens":123,"completion_tokens":3}}\n\n',
  'data: [DONE]\n\n',
];

export async function startRecordingBackend(): Promise<RecordingBackend> {
  const state = { numGpuBlocks: 100, blockSize: 16, kvUsageFrac: 0, gapMs: 5 };
  let written = 0;
  const bodies: Record<string, unknown>[] = [];
  let fail: { status: number; body: string } | undefined;
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(
          '# TYPE vllm:kv_cache_usage_perc gauge\n' +
            `vllm:kv_cache_usage_perc{engine="0",model_name="m"} ${state.kvUsageFrac}\n` +
            '# TYPE vllm:cache_config_info gauge\n' +
            `vllm:cache_config_info{block_size="${state.blockSize}",engine="0",num_gpu_blocks="${state.numGpuBlocks}"} 1.0\n`,
        );
        return;
      }
      const text = Buffer.concat(parts).toString('utf8');
      bodies.push(text ? (JSON.parse(text) as Record<string, unknown>) : {});
      if (fail) {
        const f = fail;
        fail = undefined;
        res.writeHead(f.status, { 'content-type': 'application/json' });
        res.end(f.body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const next = () => {
        if (i < STREAM_PIECES.length) {
          res.write(STREAM_PIECES[i++]);
          written++;
          setTimeout(next, state.gapMs);
        } else res.end();
      };
      next();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    streamBytes: Buffer.from(STREAM_PIECES.join('')),
    set: (o) => Object.assign(state, o),
    piecesWritten: () => written,
    failNext: (status, body) => {
      fail = { status, body };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny scripted OpenAI-compatible server for tests and benchmarks: each request says how the
 * server should behave in the `x-test` header (JSON), so one server serves exact chunk
 * timelines, quirky answers and every failure a real server or network produces.
 */
export interface Script {
  mode?:
    | 'normal'
    | 'think'
    | 'think_cut'
    | 'reasoning'
    | 'tools'
    | 'tool_text'
    | 'reset'
    | 'no_done'
    | 'malformed'
    | 'status'
    | 'hang'
    | 'stall'
    | 'instream_error'
    | 'no_usage';
  /** content chunks to send (default 4) */
  chunks?: number;
  /** ms between chunks (default 0) */
  gapMs?: number;
  /** ms before the first chunk (after headers); not streamed: before the whole answer */
  firstDelayMs?: number;
  /** send a role-only chunk first (vLLM does), default true */
  roleChunk?: boolean;
  /** for 'reset' / 'no_done' / 'malformed' / 'stall': after how many content chunks */
  after?: number;
  status?: number;
  message?: string;
  /** for 'status': the error message is `message` repeated this many times (a huge message) */
  messageRepeat?: number;
  /** a finish_reason to send instead of the usual one */
  finishReason?: string;
  /** report more completion tokens than chunks (speculative decoding) */
  tokensPerChunk?: number;
}

export interface ScriptServer {
  url: string;
  port: number;
  server: Server;
  /** requests seen (the last body and headers, for pass-through tests) */
  seen: { body: Record<string, unknown>; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish }],
    usage: null,
  })}\n\n`;
}

async function handle(req: IncomingMessage, res: ServerResponse, seen: ScriptServer['seen']): Promise<void> {
  if (req.method === 'GET' && req.url?.endsWith('/models')) {
    // what `check` and `bench` without --model ask first: one model, "m"
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
    return;
  }
  let raw = '';
  for await (const c of req) raw += c;
  const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  seen.push({ body, headers: req.headers });
  const script: Script = req.headers['x-test'] ? JSON.parse(String(req.headers['x-test'])) : {};
  const mode = script.mode ?? 'normal';
  if (mode === 'status') {
    const status = script.status ?? 500;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: {
          message: (script.message ?? 'boom').repeat(script.messageRepeat ?? 1),
          type: 'BadRequestError',
          code: status,
        },
      }),
    );
    return;
  }
  if (mode === 'hang') {
    req.socket.on('close', () => res.destroy());
    return;
  }
  const n = script.chunks ?? 4;
  const tpc = script.tokensPerChunk ?? 1;
  if (!body.stream) {
    // a non-streamed answer is sent whole, after the time it took
    if (script.firstDelayMs) await sleep(script.firstDelayMs);
    const isChat = req.url?.includes('chat');
    const text = Array.from({ length: n }, () => ' the').join('');
    const msg: Record<string, unknown> =
      mode === 'reasoning'
        ? { role: 'assistant', content: null, reasoning_content: text }
        : { role: 'assistant', content: text };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        choices: [
          isChat
            ? { index: 0, message: msg, finish_reason: 'stop' }
            : { index: 0, text, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 7, completion_tokens: n * tpc, total_tokens: 7 + n * tpc },
        servelab: { first_token_ms: nowMs(), arrival_ms: nowMs() },
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (script.roleChunk !== false) res.write(chunk({ role: 'assistant', content: '' }));
  if (script.firstDelayMs) await sleep(script.firstDelayMs);
  let firstTokenAt = 0;
  const after = script.after ?? 2;
  for (let i = 0; i < n; i++) {
    if (i > 0 && script.gapMs) await sleep(script.gapMs);
    if (res.destroyed) return;
    if (i === after) {
      if (mode === 'reset') {
        await sleep(10);
        req.socket.destroy();
        return;
      }
      if (mode === 'stall') {
        // the stream stops: the connection stays open and silent until the client goes
        req.socket.on('close', () => res.destroy());
        return;
      }
      if (mode === 'no_done') {
        res.end();
        return;
      }
      if (mode === 'malformed') {
        res.write('data: {"choices": [ this is not json\n\n');
        await sleep(5);
        res.end('data: [DONE]\n\n');
        return;
      }
      if (mode === 'instream_error') {
        res.write(`data: ${JSON.stringify({ error: { message: 'engine died', code: 500 } })}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
    }
    if (i === 0) firstTokenAt = nowMs();
    if (mode === 'think' || mode === 'think_cut') {
      const piece = i === 0 ? '<think> hmm' : i === n - 1 && mode === 'think' ? '</think> answer' : ' more';
      res.write(chunk({ content: piece }));
    } else if (mode === 'reasoning') {
      res.write(chunk({ content: null, reasoning_content: ` r${i}` }));
    } else if (mode === 'tools') {
      if (i === 0)
        res.write(
          chunk({
            tool_calls: [
              {
                index: 0,
                id: 'chatcmpl-tool-a1',
                type: 'function',
                function: { name: 'call_expert', arguments: '' },
              },
            ],
          }),
        );
      else if (i === 1)
        res.write(
          chunk({
            tool_calls: [
              {
                index: 1,
                id: 'chatcmpl-tool-b2',
                type: 'function',
                function: { name: 'search', arguments: '{"q":' },
              },
            ],
          }),
        );
      else
        res.write(
          chunk({
            tool_calls: [{ index: i % 2, function: { arguments: i % 2 ? '"x"}' : '{"expert":"expert-1"}' } }],
          }),
        );
    } else if (mode === 'tool_text') {
      res.write(chunk({ content: i === 0 ? '<tool_call>{"name": "f"}' : ' </tool_call>' }));
    } else {
      res.write(chunk({ content: ' the' }));
    }
  }
  const finish =
    script.finishReason ?? (mode === 'think_cut' ? 'length' : mode === 'tools' ? 'tool_calls' : 'stop');
  res.write(chunk({}, finish));
  if (mode !== 'no_usage')
    res.write(
      `data: ${JSON.stringify({
        id: 'chatcmpl-test',
        choices: [],
        usage: {
          prompt_tokens: 7,
          completion_tokens: n * tpc,
          total_tokens: 7 + n * tpc,
          prompt_tokens_details: { cached_tokens: 3 },
        },
        servelab: { first_token_ms: firstTokenAt, arrival_ms: firstTokenAt },
      })}\n\n`,
    );
  res.end('data: [DONE]\n\n');
}

/** Starts the script server on 127.0.0.1, port 0. */
export async function startScriptServer(): Promise<ScriptServer> {
  const seen: ScriptServer['seen'] = [];
  const server = createServer((req, res) => {
    handle(req, res, seen).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * A small real HTTP server standing in for one vLLM / SGLang port in tests: serves a mutable
 * /metrics page, /health, /version, /v1/models and a scripted /v1/chat/completions (streamed
 * as SSE, or not), and can be closed and reopened on the same port to make outages.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ChatBehaviour =
  | 'ok'
  | 'reasoning_null_content' // gpt-oss
  | 'think' // qwen3
  | 'think_cut' // qwen3, max_tokens hit inside <think>
  | 'tool_as_text' // no tool-call parser: the call stays in content
  | 'tool_ok'
  | 'tool_500_token_ids' // vLLM 0.12.0
  | 'status_500'
  | 'hang';

export interface PageServerOptions {
  page?: () => string;
  /** status of /health (default 200); 0 = no such route (404) */
  healthStatus?: number;
  models?: string[];
  version?: string;
  chat?: ChatBehaviour;
  /** when set, /v1/* and /version want `authorization: Bearer <apiKey>` (vLLM --api-key) */
  apiKey?: string;
  /** delay before any answer, ms */
  delayMs?: number;
  port?: number;
}

export interface PageServer {
  port: number;
  url: string;
  opts: PageServerOptions;
  /** requests seen per path */
  hits: Map<string, number>;
  close(): Promise<void>;
  /** listens again on the same port */
  reopen(): Promise<void>;
}

function sse(res: ServerResponse, deltas: Record<string, unknown>[], finish: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  res.write(
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] })}\n\n`,
  );
  deltas.forEach((d, i) => {
    const last = i === deltas.length - 1;
    res.write(
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: d, finish_reason: last ? finish : null }] })}\n\n`,
    );
  });
  res.write(
    `data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: deltas.length, total_tokens: 10 + deltas.length } })}\n\n`,
  );
  res.end('data: [DONE]\n\n');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function chat(res: ServerResponse, how: ChatBehaviour, body: Record<string, unknown>) {
  const wantsTools = Array.isArray(body.tools) && body.tools.length > 0;
  switch (how) {
    case 'hang':
      return;
    case 'status_500':
      return json(res, 500, { error: { message: 'internal error', type: 'InternalServerError', code: 500 } });
    case 'tool_500_token_ids':
      if (wantsTools)
        return json(res, 500, {
          error: {
            message: "extract_tool_calls() got an unexpected keyword argument 'token_ids'",
            type: 'InternalServerError',
            code: 500,
          },
        });
      return sse(res, [{ content: 'Hello' }, { content: ' there.' }], 'stop');
    case 'reasoning_null_content':
      return sse(
        res,
        [{ reasoning_content: 'The user greets.' }, { reasoning_content: ' Reply.' }],
        'length',
      );
    case 'think':
      return sse(res, [{ content: '<think>ok' }, { content: '</think>' }, { content: 'Hello.' }], 'stop');
    case 'think_cut':
      return sse(res, [{ content: '<think>Let me' }, { content: ' think about' }], 'length');
    case 'tool_as_text':
      if (wantsTools)
        return sse(
          res,
          [
            { content: '<tool_call>\n{"name": "get_weather", ' },
            { content: '"arguments": {"city": "Paris"}}\n</tool_call>' },
          ],
          'stop',
        );
      return sse(res, [{ content: 'Hello' }], 'stop');
    case 'tool_ok':
    case 'ok':
      if (wantsTools && how === 'tool_ok')
        return sse(
          res,
          [
            {
              tool_calls: [
                {
                  index: 0,
                  id: 'chatcmpl-tool-1',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '' },
                },
              ],
            },
            { tool_calls: [{ index: 0, function: { arguments: '{"city": "Paris"}' } }] },
          ],
          'tool_calls',
        );
      return sse(res, [{ content: 'Hello' }, { content: ' there.' }], 'stop');
  }
}

export async function startPageServer(opts: PageServerOptions = {}): Promise<PageServer> {
  const hits = new Map<string, number>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString('utf8');
    });
    req.on('end', () => {
      const answer = () => {
        const guarded = path.startsWith('/v1/') || path === '/version';
        if (opts.apiKey && guarded && req.headers.authorization !== `Bearer ${opts.apiKey}`)
          return json(res, 401, { error: 'Unauthorized' });
        if (path === '/metrics') {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          return res.end(opts.page ? opts.page() : '');
        }
        if (path === '/health') {
          const st = opts.healthStatus ?? 200;
          res.writeHead(st === 0 ? 404 : st);
          return res.end();
        }
        if (path === '/version') return json(res, 200, { version: opts.version ?? '0.11.0' });
        if (path === '/v1/models')
          return json(res, 200, {
            object: 'list',
            data: (opts.models ?? ['m']).map((id) => ({ id, object: 'model', max_model_len: 32768 })),
          });
        if (path === '/v1/chat/completions') {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(raw) as Record<string, unknown>;
          } catch {
            // keep {}
          }
          return chat(res, opts.chat ?? 'ok', body);
        }
        res.writeHead(404);
        res.end();
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  };
  let server: Server = createServer(handler);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const port = await listen(opts.port ?? 0);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    opts,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    reopen: async () => {
      server = createServer(handler);
      await listen(port);
    },
  };
}

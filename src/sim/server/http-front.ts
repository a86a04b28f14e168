/**
 * The simulated vLLM's HTTP front over node:http: vLLM's routes and wire format, streaming one
 * SSE chunk per engine step, transport-level faults (stream cut, malformed chunk, missing
 * [DONE]) and client disconnects aborting the engine request. Request bodies over a limit are
 * refused with 413 before they are buffered.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutputDelta } from '../persona-output.js';
import type { ChoiceFinish, ResponseMeta, ServiceSink, SimService } from '../service.js';
import type { ApiError } from '../service-errors.js';
import { apiError } from '../service-errors.js';
import { deltaLineFactory, fullBody, roleChunk, streamChunk, usageChunk } from './chunks.js';
import { type MetricsNames, renderMetrics } from './metrics-page.js';

export interface HttpFrontOptions {
  service: SimService;
  host?: string;
  /** 0 picks a free port */
  port?: number;
  versionString?: string;
  metricsNames?: MetricsNames;
  /** `root` in /v1/models: the model as given to the server (default: the engine's model) */
  root?: string;
  /** vLLM's --api-key: /v1 routes then need `Authorization: Bearer <one of them>` */
  apiKeys?: readonly string[];
  /** largest request body accepted, in bytes (default DEFAULT_MAX_BODY_BYTES); larger: 413 */
  maxBodyBytes?: number;
}

export interface HttpFront {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * 8 MiB: a prompt at a 128k-token context is about 0.5-1 MB of JSON (text at ~4-5 bytes per
 * token, or a completions token-id list at ~7), so this leaves room for contexts of ~1M tokens
 * while three abusive 50 MB uploads can no longer take the process to ~1 GB. vLLM itself
 * (uvicorn + FastAPI) sets no limit and buffers any body; this is the simulator protecting the
 * measurements it serves. `servelab sim --max-body-mb` raises it.
 */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

function sendJson(res: ServerResponse, status: number, obj: unknown): void {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.body);
}

function tooLarge(limit: number, got: string): ApiError {
  return apiError(
    413,
    `Request body too large: ${got}; this server accepts at most ${limit} bytes (servelab sim --max-body-mb).`,
  );
}

/** 413 and close: the rest of the body is not read, so the connection cannot be reused */
function refuseBody(req: IncomingMessage, res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err.body);
  res.writeHead(413, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  // node:http destroys the socket once the response is written (connection: close); the bytes
  // still arriving until then are dropped, not buffered
  req.on('data', () => {});
  res.end(body);
}

/**
 * The body as text, or undefined after a 413 was sent: a Content-Length over the limit is
 * refused before anything is read, a body without one (chunked) as soon as the bytes counted in
 * pass the limit; nothing past the limit is kept.
 */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    refuseBody(req, res, tooLarge(limit, `Content-Length ${declared} bytes`));
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (b: Buffer) => {
      if (over) return;
      n += b.length;
      if (n > limit) {
        over = true;
        parts.length = 0;
        refuseBody(req, res, tooLarge(limit, `more than ${limit} bytes received`));
        resolve(undefined);
      } else parts.push(b);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(parts, n).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!over) reject(e);
    });
  });
}

/**
 * One chunk of a chunked-encoded streaming body. The hot path (one call per stream per engine
 * step) frames the chunk itself and writes it to the socket in one call: node:http's res.write
 * costs a cork/uncork tick and a three-part writev per chunk (~12 % of the front's CPU per chunk
 * at 2,000 streams; most of the rest is the kernel's loopback write). Only once the headers are
 * on the socket and the response owns it; otherwise res.write. res.end() still writes the
 * terminating chunk, so keep-alive works as before.
 */
function writeBody(res: ServerResponse, text: string): void {
  const sock = res.socket;
  // res.socket is null for a response queued behind another on a pipelined connection, and
  // writableLength > 0 while node:http still holds bytes of ours (headers or a corked write)
  if (sock && res.headersSent && res.writableLength === 0) {
    sock.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
  } else res.write(text);
}

function streamingSink(
  res: ServerResponse,
  getFault: () => ReturnType<SimService['chat']>['fault'],
): ServiceSink {
  let meta: ResponseMeta;
  let chunks = 0;
  let lines: ((d: OutputDelta) => string)[] = [];
  // vLLM writes the role chunk(s) in its first iteration over the engine's outputs, i.e. with
  // the first token; a completions choice's first chunk carries the prompt's token ids
  let roleSent = false;
  let firstSent: boolean[] = [];
  const beforeOutput = () => {
    if (roleSent) return;
    roleSent = true;
    if (meta.kind === 'chat') for (let i = 0; i < meta.choices; i++) write(roleChunk(meta, i));
  };
  const write = (obj: unknown): boolean => writeLine(`data: ${JSON.stringify(obj)}\n\n`);
  const writeLine = (line: string): boolean => {
    if (res.destroyed) return false;
    const fault = getFault();
    if (fault?.kind === 'malformed_chunk' && chunks === fault.afterChunks) {
      writeBody(
        res,
        'data: {"id": "chatcmpl-malformed", "choices": [{"delta": {"content": "unterminated\n\n',
      );
    }
    writeBody(res, line);
    chunks++;
    if (fault?.kind === 'stream_cut' && chunks >= fault.afterChunks) {
      res.destroy();
      return false;
    }
    return true;
  };
  return {
    start(m) {
      meta = m;
      lines = Array.from({ length: m.choices }, (_, i) => deltaLineFactory(m, i));
      firstSent = new Array(m.choices).fill(false);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.flushHeaders();
    },
    delta(choice, d) {
      beforeOutput();
      if (meta.kind === 'completion' && !firstSent[choice]) {
        firstSent[choice] = true;
        write(streamChunk(meta, choice, d, undefined, true));
      } else writeLine(lines[choice]!(d));
    },
    finish(choice, f: ChoiceFinish) {
      beforeOutput();
      const first = !firstSent[choice];
      firstSent[choice] = true;
      write(streamChunk(meta, choice, f.lastDelta, f, first));
    },
    stalled() {
      beforeOutput();
    },
    done(usage, timing) {
      beforeOutput();
      if (meta.includeUsage && !write(usageChunk(meta, usage, timing))) return;
      if (res.destroyed) return;
      if (getFault()?.kind !== 'missing_done') writeBody(res, 'data: [DONE]\n\n');
      res.end();
    },
    error(err) {
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    },
  };
}

function wholeSink(
  res: ServerResponse,
  getFault: () => ReturnType<SimService['chat']>['fault'],
): ServiceSink {
  let meta: ResponseMeta;
  const finishes: ChoiceFinish[] = [];
  return {
    start(m) {
      meta = m;
    },
    finish(choice, f) {
      finishes[choice] = f;
    },
    done(usage, timing) {
      const fault = getFault();
      if (fault?.kind === 'stream_cut') {
        res.destroy();
        return;
      }
      const body = JSON.stringify(fullBody(meta, finishes, usage, timing));
      if (fault?.kind === 'malformed_chunk') {
        const cut = body.slice(0, Math.max(1, Math.floor(body.length / 2)));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(cut) });
        res.end(cut);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    error(err) {
      sendError(res, err);
    },
  };
}

async function handleGeneration(
  svc: SimService,
  kind: 'chat' | 'completion',
  req: IncomingMessage,
  res: ServerResponse,
  maxBodyBytes: number,
): Promise<void> {
  let body: Record<string, unknown>;
  try {
    const text = await readBody(req, res, maxBodyBytes);
    if (text === undefined) return;
    // one JSON.parse of at most maxBodyBytes (tens of ms for 8 MiB): the loop is held that long at most
    body = JSON.parse(text);
  } catch (e) {
    sendError(res, apiError(400, `Invalid JSON body: ${(e as Error).message}`));
    return;
  }
  let handle: ReturnType<SimService['chat']> | undefined;
  const getFault = () => handle?.fault;
  const stream = body !== null && typeof body === 'object' && body.stream === true;
  const sink = stream ? streamingSink(res, getFault) : wholeSink(res, getFault);
  // the fault is known only once the handle is returned, but start() may write the role chunk
  // first; a stream_cut/malformed fault counts chunks from there, which is what we want
  handle = kind === 'chat' ? svc.chat(body, req.headers, sink) : svc.completion(body, req.headers, sink);
  const h = handle;
  res.on('close', () => {
    if (!res.writableFinished) h.abort();
  });
}

/**
 * vLLM's AuthenticationMiddleware (vllm/entrypoints/openai/api_server.py, v0.11): with keys
 * set, a request to a path under /v1 (OPTIONS excepted) needs `Authorization: Bearer KEY`
 * (scheme case-insensitive); otherwise 401 `{"error": "Unauthorized"}`. /health, /metrics,
 * /version stay open.
 */
function authorized(req: IncomingMessage, url: string, keys: readonly string[] | undefined): boolean {
  if (!keys || keys.length === 0 || req.method === 'OPTIONS' || !url.startsWith('/v1')) return true;
  const value = req.headers.authorization ?? '';
  const space = value.indexOf(' ');
  const scheme = space === -1 ? value : value.slice(0, space);
  const token = space === -1 ? '' : value.slice(space + 1);
  return scheme.toLowerCase() === 'bearer' && keys.includes(token);
}

export function createHttpFront(opts: HttpFrontOptions): Server {
  const svc = opts.service;
  const version = opts.versionString ?? '0.11.0';
  const names = opts.metricsNames ?? 'v1';
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const createdSec = Math.floor(Date.now() / 1000);
  const server = createServer({ keepAlive: true }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    if (!authorized(req, url ?? '/', opts.apiKeys)) {
      req.resume();
      sendJson(res, 401, { error: 'Unauthorized' });
    } else if (method === 'GET' && url === '/health') {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
    } else if (method === 'GET' && url === '/version') {
      sendJson(res, 200, { version });
    } else if (method === 'GET' && url === '/v1/models') {
      const cfg = svc.engine.config;
      sendJson(res, 200, {
        object: 'list',
        data: [
          {
            id: svc.modelName,
            object: 'model',
            created: createdSec,
            owned_by: 'vllm',
            root: opts.root ?? cfg.model,
            parent: null,
            max_model_len: cfg.maxModelLen,
            // vLLM's show_available_models: permission=[ModelPermission()], a fresh one per call
            permission: [
              {
                id: `modelperm-${randomBytes(16).toString('hex')}`,
                object: 'model_permission',
                created: Math.floor(Date.now() / 1000),
                allow_create_engine: false,
                allow_sampling: true,
                allow_logprobs: true,
                allow_search_indices: false,
                allow_view: true,
                allow_fine_tuning: false,
                organization: '*',
                group: null,
                is_blocking: false,
              },
            ],
          },
        ],
      });
    } else if (method === 'GET' && url === '/metrics') {
      const text = renderMetrics(svc, names);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    } else if (method === 'POST' && (url === '/v1/chat/completions' || url === '/v1/completions')) {
      handleGeneration(svc, url === '/v1/completions' ? 'completion' : 'chat', req, res, maxBodyBytes).catch(
        (e: unknown) => {
          if (!res.headersSent)
            sendError(res, apiError(500, `servelab sim: ${(e as Error)?.message ?? String(e)}`));
          else res.destroy();
        },
      );
    } else if (method === 'POST' && url === '/reset_prefix_cache') {
      req.resume();
      const ok = svc.engine.resetPrefixCache();
      res.writeHead(ok ? 200 : 500, { 'content-length': 0 });
      res.end();
    } else {
      req.resume();
      sendJson(res, 404, { detail: 'Not Found' });
    }
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

export async function listenHttpFront(opts: HttpFrontOptions): Promise<HttpFront> {
  const server = createHttpFront(opts);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port,
    url: `http://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

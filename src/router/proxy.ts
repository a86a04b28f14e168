/**
 * The router's HTTP front over node:http, in front of OpenAI-compatible backends (vLLM or the
 * simulator). POST /v1/chat/completions and /v1/completions: the program id is read from the
 * body's top-level `program_id` (else `job_id`); `program_id` is removed before forwarding
 * (`job_id` is left: the KV-TTL fork reads it); the call waits while its program is paused, then
 * goes to the program's backend. The backend's answer is passed through as it arrives (status,
 * headers, body bytes; SSE unbuffered), with two headers added:
 * `x-servelab-router-queue-ms` (ms the call waited at the router) and `x-servelab-router-backend`.
 * A backend that cannot be reached gives 502 with an OpenAI-style error naming it.
 *
 * Own routes: GET /programs, POST /programs/release {program_id}, GET /health, GET /metrics
 * (JSON, as ThunderAgent's). Anything else is forwarded unscheduled to the first healthy backend.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request } from 'undici';
import type { ProgramView, RouterCore } from './core.js';
import { UsageScanner } from './usage-scan.js';

export const QUEUE_MS_HEADER = 'x-servelab-router-queue-ms';
export const BACKEND_HEADER = 'x-servelab-router-backend';

/** 64 MiB: the router holds one body per waiting call; bigger bodies get 413 */
export const DEFAULT_ROUTER_MAX_BODY_BYTES = 64 * 1024 * 1024;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

export interface ProxyOptions {
  core: RouterCore;
  /** backend id (as the core knows it) -> base URL without a trailing slash */
  backendUrl: (id: string) => string;
  /** the first healthy backend, for routes the router does not schedule */
  defaultBackend: () => string;
  maxBodyBytes?: number;
  /** extra facts for GET /health and /metrics */
  describe?: () => Record<string, unknown>;
}

const SCHEDULED = new Set(['/v1/chat/completions', '/v1/completions']);

export function createRouterServer(o: ProxyOptions): Server {
  const maxBody = o.maxBodyBytes ?? DEFAULT_ROUTER_MAX_BODY_BYTES;
  return createServer((req, res) => {
    handle(o, maxBody, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, `router: ${(err as Error).message}`, 'InternalServerError');
      else res.destroy();
    });
  });
}

async function handle(o: ProxyOptions, maxBody: number, req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'GET' && path === '/programs') return sendJson(res, 200, programsBody(o.core));
  if (req.method === 'GET' && (path === '/health' || path === '/metrics'))
    return sendJson(res, 200, { status: 'ok', ...snake(o.core.stats()), ...(o.describe?.() ?? {}) });
  const body = await readBody(req, maxBody);
  if (body === 'too-big') return sendError(res, 413, `request body over ${maxBody} bytes`, 'BadRequestError');
  if (req.method === 'POST' && path === '/programs/release') {
    const id = programIdOf(parseJson(body));
    if (id === undefined)
      return sendError(
        res,
        400,
        'POST /programs/release needs a JSON body {"program_id": ...}',
        'BadRequestError',
      );
    return sendJson(res, 200, { program_id: id, released: o.core.release(id) });
  }
  if (req.method !== 'POST' || !SCHEDULED.has(path)) {
    return forward(o, req, res, o.defaultBackend(), body, undefined, 0);
  }
  const json = parseJson(body);
  if (json === undefined && body.length > 0)
    return sendError(res, 400, 'request body is not valid JSON', 'BadRequestError');
  const programId = programIdOf(json);
  let out = body;
  if (json && typeof json === 'object' && 'program_id' in json) {
    delete (json as Record<string, unknown>).program_id;
    out = Buffer.from(JSON.stringify(json));
  }
  let gaveUp = false;
  let waitingId: number | undefined;
  const onClose = () => {
    gaveUp = true;
    if (waitingId !== undefined) o.core.endCall(waitingId);
  };
  res.once('close', onClose);
  let granted = false;
  const id = o.core.beginCall(programId, out.length, (g) => {
    granted = true;
    res.off('close', onClose);
    if (gaveUp) {
      o.core.endCall(g.callId);
      return;
    }
    forward(o, req, res, g.backend, out, g.callId, g.queueMs).catch(() => {});
  });
  if (!granted) waitingId = id;
}

/** Forward one request; the answer streams back chunk by chunk. callId: end it in the core. */
async function forward(
  o: ProxyOptions,
  req: IncomingMessage,
  res: ServerResponse,
  backend: string,
  body: Buffer,
  callId: number | undefined,
  queueMs: number,
): Promise<void> {
  const base = o.backendUrl(backend);
  const ac = new AbortController();
  let finished = false;
  res.once('close', () => {
    if (!finished) ac.abort();
  });
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  let usage: ReturnType<UsageScanner['end']>;
  try {
    const up = await request(`${base}${req.url ?? '/'}`, {
      method: (req.method ?? 'GET') as 'GET',
      headers,
      ...(hasBody ? { body } : {}),
      signal: ac.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const outHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) outHeaders[k] = v;
    }
    if (up.headers['content-length'] !== undefined)
      outHeaders['content-length'] = up.headers['content-length'] as string;
    outHeaders[QUEUE_MS_HEADER] = String(Math.round(queueMs));
    outHeaders[BACKEND_HEADER] = base;
    res.writeHead(up.statusCode, outHeaders);
    res.flushHeaders();
    const ct = up.headers['content-type'];
    const scan = callId !== undefined ? new UsageScanner(Array.isArray(ct) ? ct[0] : ct) : undefined;
    for await (const chunk of up.body) {
      scan?.push(chunk as Uint8Array);
      if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', () => r()));
    }
    usage = scan?.end();
    finished = true;
    res.end();
  } catch (err) {
    if (!res.headersSent && !ac.signal.aborted) {
      sendError(res, 502, `router: backend ${base} did not answer: ${errText(err)}`, 'BadGatewayError');
    } else res.destroy();
  } finally {
    finished = true;
    if (callId !== undefined) o.core.endCall(callId, usage);
  }
}

function programIdOf(json: unknown): string | undefined {
  if (!json || typeof json !== 'object') return undefined;
  const j = json as Record<string, unknown>;
  for (const k of ['program_id', 'job_id']) {
    const v = j[k];
    if ((typeof v === 'string' && v.length > 0) || typeof v === 'number') return String(v);
  }
  return undefined;
}

function programsBody(core: RouterCore): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of core.listPrograms()) out[p.programId] = programJson(p);
  return out;
}

/** ThunderAgent's GET /programs keys (backend, total_tokens, step_count, status, state) and ours */
function programJson(p: ProgramView): Record<string, unknown> {
  const { programId: _id, tokens, steps, ...rest } = p;
  return { total_tokens: tokens, step_count: steps, ...snake(rest) };
}

function snake(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const key = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    out[key] = Array.isArray(v)
      ? v.map((x) => (x && typeof x === 'object' ? snake(x) : x))
      : v && typeof v === 'object'
        ? snake(v)
        : v;
  }
  return out;
}

function parseJson(b: Buffer): unknown {
  if (b.length === 0) return undefined;
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-big'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return 'too-big';
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) {
      req.resume();
      return 'too-big';
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

function sendJson(res: ServerResponse, status: number, v: unknown): void {
  const text = JSON.stringify(v);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** vLLM's error shape: {error: {message, type, param, code}} */
function sendError(res: ServerResponse, status: number, message: string, type: string): void {
  sendJson(res, status, { error: { message, type, param: null, code: status } });
}

function errText(err: unknown): string {
  let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let d = 0; e && d < 4; d++) {
    if (typeof e.code === 'string')
      return `${e.code}${typeof e.message === 'string' ? ` (${e.message})` : ''}`;
    e = e.cause as typeof e;
  }
  return String((err as Error)?.message ?? err);
}

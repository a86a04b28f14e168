import type { CallError, ErrorKind } from '../loadgen/transport.js';
import { capServerText, SERVER_TEXT_MAX_CHARS, serverMessage } from '../server-text.js';

export { capServerText, SERVER_TEXT_MAX_CHARS, serverMessage };

const CONTEXT_RE = /maximum context length|context length|context_length_exceeded|too many tokens/i;

/**
 * Classifies an HTTP error response. Context-length errors are never retryable. The server's
 * message is kept to its first SERVER_TEXT_MAX_CHARS characters (`messageChars` = its length).
 */
export function httpError(status: number, bodyText: string, where: string): CallError {
  const full = serverMessage(bodyText);
  const msg = capServerText(full);
  const text = `${where}: HTTP ${status}${msg.text ? `: ${msg.text}` : ''}`;
  // the classification reads the head only: a context-length message says so in its first words
  const head = full.slice(0, 4 * SERVER_TEXT_MAX_CHARS);
  let kind: ErrorKind;
  let retryable = false;
  if (status === 429) {
    kind = 'rate_limited';
    retryable = true;
  } else if (status >= 500) {
    kind = CONTEXT_RE.test(head) ? 'context_length' : 'server_error';
    retryable = kind === 'server_error';
  } else if (status === 400 || status === 413 || status === 422) {
    kind = CONTEXT_RE.test(head) ? 'context_length' : 'bad_request';
  } else if (status >= 400) {
    kind = 'bad_request';
  } else {
    kind = 'http';
  }
  return {
    kind,
    message: text,
    httpStatus: status,
    retryable,
    ...(msg.chars !== undefined ? { messageChars: msg.chars } : {}),
  };
}

/** An `{"error": ...}` object sent inside a 200 stream (vLLM does this for mid-stream failures). */
export function inStreamError(obj: Record<string, unknown>, where: string): CallError {
  const inner = obj.error as Record<string, unknown> | string;
  const full = typeof inner === 'string' ? inner : String(inner?.message ?? JSON.stringify(inner));
  const capped = capServerText(full);
  const msg = capped.text;
  const cut = capped.chars !== undefined ? { messageChars: capped.chars } : {};
  const code = typeof inner === 'object' ? Number(inner?.code) : Number.NaN;
  if (CONTEXT_RE.test(full.slice(0, 4 * SERVER_TEXT_MAX_CHARS)))
    return { kind: 'context_length', message: `${where}: ${msg}`, httpStatus: 400, retryable: false, ...cut };
  if (code === 429)
    return { kind: 'rate_limited', message: `${where}: ${msg}`, httpStatus: 429, retryable: true, ...cut };
  return {
    kind: 'server_error',
    message: `${where}: error inside the stream: ${msg}`,
    ...(Number.isFinite(code) ? { httpStatus: code } : {}),
    retryable: true,
    ...cut,
  };
}

function errCode(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return '';
}

/** Classifies a network-level failure from undici / node:net. */
export function networkError(err: unknown, hostPort: string, where: string): CallError {
  const code = errCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return {
        kind: 'refused',
        message: `${where}: connection refused: nothing listens on ${hostPort}: is the server up / the SSH port forward open?`,
        retryable: true,
      };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return {
        kind: 'unreachable',
        message: `${where}: cannot reach ${hostPort} (${code}): check the host name, the network or the tunnel`,
        retryable: true,
      };
    default:
      return {
        kind: 'reset',
        message: `${where}: connection closed or reset (${code || detail})`,
        retryable: true,
      };
  }
}

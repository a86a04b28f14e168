/**
 * Host fields (a model-config replica's `ip_addr`, the host of a URL flag): a host name, an IPv4
 * or an IPv6 address, nothing else. "evil.example@127.0.0.1" (userinfo), "host:80/x" (a port or
 * a path) and "http://host" are refused, so what reaches a URL is exactly the host named.
 */
import { isIP } from 'node:net';
import { ServelabError } from '../errors.js';

/** RFC 1123 labels (letters, digits, "-" inside; "_" tolerated as internal DNS names use it). */
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** A bare host: the name or address with IPv6 brackets removed, or undefined when it is not one. */
export function parseHost(text: string): string | undefined {
  const t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) return isIP(t.slice(1, -1)) === 6 ? t.slice(1, -1) : undefined;
  if (isIP(t) !== 0) return t;
  // a dotted all-numeric string that isIP refused (999.1.1.1) is a bad address, not a name
  if (/^[\d.]+$/.test(t)) return undefined;
  const name = t.endsWith('.') ? t.slice(0, -1) : t;
  if (name.length === 0 || name.length > 253) return undefined;
  return name.split('.').every((l) => LABEL.test(l)) ? t : undefined;
}

export const HOST_HINT =
  'a host name (gpu-node-1), an IPv4 (127.0.0.1) or an IPv6 address (::1), nothing else';

/**
 * A server URL given on the command line: `http(s)://host[:port][/path]`, or `host:port` (http
 * is assumed). Refused with the flag named: another scheme, a malformed scheme (`http//host`,
 * `http:/host`, which would otherwise be read as a host named "http"), a bare word without a
 * port (`notaurl`: port 80 is never where a model server listens by accident), a bad host.
 */
export function parseUrlFlag(text: string, flag: string): URL {
  const t = text.trim();
  const example = 'e.g. http://127.0.0.1:1900 (or 127.0.0.1:1900)';
  const bad = (why: string) => new ServelabError('BAD_FLAG', `${flag} "${text}" ${why}`, { hint: example });
  let full: string;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(t);
  if (scheme) {
    if (!/^https?$/i.test(scheme[1]!)) throw bad(`has scheme "${scheme[1]}": only http and https are served`);
    full = t;
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:?\/+/.test(t) || /^https?:(?!\/\/)/i.test(t)) {
    throw bad('is a malformed URL (the scheme needs "://", as in http://host:port)');
  } else if (/^(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]\s]+):\d{1,5}(\/\S*)?$/.test(t)) {
    full = `http://${t}`;
  } else {
    throw bad('is not a URL: give http://host:port, https://host, or host:port');
  }
  const port = /^[^/]*:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/]*):(\d+)/.exec(full)?.[1];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535))
    throw bad(`has port ${port}: a port is 1-65535`);
  let u: URL;
  try {
    u = new URL(full);
  } catch {
    throw bad('is not a valid URL');
  }
  if (parseHost(u.hostname) === undefined) throw bad(`has no valid host: give ${HOST_HINT}`);
  return u;
}

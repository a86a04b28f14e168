/**
 * URL flags (`--url`, `check URL`): their host is a host field (`../host.ts`, shared with `sim/`).
 */
import { ServelabError } from '../errors.js';
import { HOST_HINT, parseHost } from '../host.js';

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

/**
 * Host fields (a model-config replica's `ip_addr`, a sim topology's `host`, the host of a URL
 * flag): a host name, an IPv4 or an IPv6 address, nothing else. "evil.example@127.0.0.1"
 * (userinfo), "host:80/x" (a port or a path) and "http://host" are refused, so what reaches a URL
 * or a bind is exactly the host named. A leaf module: `config/` and `sim/` both import it.
 */
import { isIP } from 'node:net';

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

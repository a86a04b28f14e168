/**
 * `--header` values, one syntax for every command: `name=value` (as `vllm bench serve`), and
 * `name: value` (as curl) read the same. An HTTP field name is a token, which holds neither
 * `=` nor `:` (RFC 9110 5.1), so the first of them ends the name; the value keeps any later one
 * (`authorization=Bearer a:b`). Names are lower-cased; a repeated name keeps the last value.
 */
import { ServelabError } from '../errors.js';

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const HEADER_SYNTAX = 'name=value';

export function parseHeader(text: string, flag = '--header'): [name: string, value: string] {
  const eq = text.indexOf('=');
  const colon = text.indexOf(':');
  const cut = eq === -1 ? colon : colon === -1 ? eq : Math.min(eq, colon);
  const name = cut > 0 ? text.slice(0, cut).trim() : '';
  const value = cut > 0 ? text.slice(cut + 1).trim() : '';
  const bad = (why: string) =>
    new ServelabError('BAD_FLAG', `${flag} "${text}": ${why}`, {
      hint: `write ${flag} ${HEADER_SYNTAX} (e.g. ${flag} x-request-tag=run1; "name: value" works too)`,
    });
  if (cut <= 0) throw bad(`not ${HEADER_SYNTAX}`);
  if (!TOKEN_RE.test(name)) throw bad(`"${name}" is not an HTTP header name`);
  if (/[\r\n\0]/.test(value)) throw bad('the value holds a line break or NUL');
  return [name.toLowerCase(), value];
}

export function parseHeaders(list: readonly string[] = [], flag = '--header'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const [name, value] = parseHeader(h, flag);
    out[name] = value;
  }
  return out;
}

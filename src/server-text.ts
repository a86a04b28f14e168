/**
 * Server-provided text (an error message, a body, a model name) as servelab keeps and prints it:
 * the head and, when cut, the full length. One definition for the client's records, `check`,
 * `scrape`, `monitor` and the metrics fetcher (a leaf module: `metrics/` and `client/` import it).
 */

/**
 * How much of a server's own text (an error message, a non-JSON body) a CallError keeps. Records
 * carry every failed request's message, so a server's 5 MB message would otherwise be copied
 * into every line; the head is enough to read what went wrong, the length says how much was cut.
 */
export const SERVER_TEXT_MAX_CHARS = 500;

/**
 * The head of a server-provided text and, when it was cut, its full length in characters.
 * `fullChars`: the length of the whole text when only its head was read (a bounded body read).
 */
export function capServerText(
  text: string,
  max = SERVER_TEXT_MAX_CHARS,
  fullChars = text.length,
): { text: string; chars?: number } {
  if (fullChars <= max && text.length <= max) return { text };
  return { text: `${text.slice(0, max)}... (${fullChars} characters)`, chars: fullChars };
}

/** The server's message from an OpenAI / vLLM error body (nested or flat), else the raw text (whole). */
export function serverMessage(bodyText: string): string {
  const trimmed = bodyText.trim();
  if (!trimmed) return '';
  try {
    const parsed = JSON.parse(trimmed) as unknown;
    if (parsed && typeof parsed === 'object') {
      const obj = parsed as Record<string, unknown>;
      const inner = obj.error;
      if (inner && typeof inner === 'object') {
        const m = (inner as Record<string, unknown>).message;
        if (typeof m === 'string') return m;
      }
      if (typeof inner === 'string') return inner;
      if (typeof obj.message === 'string') return obj.message;
      if (typeof obj.detail === 'string') return obj.detail;
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return trimmed;
}

/**
 * A body's first `max` characters and how many more there were (`cut`: read and dropped, so the
 * connection stays reusable and memory stays bounded; 0 when the body was kept whole).
 * `onRead` is called on every read (a watchdog's sign of life).
 */
export async function readBoundedBody(
  body: AsyncIterable<unknown>,
  max: number,
  onRead?: () => void,
): Promise<{ text: string; cut: number }> {
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let kept = 0;
  let cut = 0;
  const add = (t: string) => {
    const room = Math.max(0, max - kept);
    if (t.length <= room) {
      parts.push(t);
      kept += t.length;
    } else {
      if (room > 0) parts.push(t.slice(0, room));
      kept += room;
      cut += t.length - room;
    }
  };
  for await (const buf of body) {
    onRead?.();
    add(decoder.decode(buf as Uint8Array, { stream: true }));
  }
  add(decoder.decode());
  return { text: parts.join(''), cut };
}

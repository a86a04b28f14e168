import { connect } from 'node:net';
import { setTimer } from '../timers.js';

export type TcpOutcome =
  | { ok: true; ms: number }
  | { ok: false; kind: 'refused' | 'timeout' | 'unreachable'; code: string; ms: number };

/**
 * Does the port accept a TCP connection? Refused means nothing listens (yet: an SSH forward
 * still coming up); a timeout or no route means the host cannot be reached at all.
 */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<TcpOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: TcpOutcome) => {
      clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => {});
      sock.destroy();
      resolve(r);
    };
    const timer = setTimer(
      () => done({ ok: false, kind: 'timeout', code: 'ETIMEDOUT', ms: performance.now() - t0 }),
      timeoutMs,
    );
    sock.once('connect', () => done({ ok: true, ms: performance.now() - t0 }));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'ERROR';
      done({
        ok: false,
        kind: code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : 'unreachable',
        code,
        ms: performance.now() - t0,
      });
    });
  });
}

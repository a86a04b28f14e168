import { createServer } from 'node:net';

/**
 * A loopback port free right now (the OS picks it; the probe socket is closed again). For tests
 * that must pass a port to something started later, e.g. a server process from argv; another
 * process could take it in between, which on a test machine does not happen in practice.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

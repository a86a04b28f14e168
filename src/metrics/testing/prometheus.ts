/**
 * A real Prometheus on loopback for tests (the Debian package's binary; scripts/ci-deps.sh
 * installs it, SERVELAB_PROMETHEUS_BIN overrides): scrapes the given targets every second into
 * a temporary TSDB; `waitFor` polls a query until it has data (the first scrape lands ~5-6 s
 * after start).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../../testing/free-port.js';
import { queryRange } from '../prometheus-source.js';

export function prometheusBin(): string | undefined {
  if (process.env.SERVELAB_PROMETHEUS_BIN) return process.env.SERVELAB_PROMETHEUS_BIN;
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/sbin'])) {
    const p = join(dir, 'prometheus');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export interface TestPrometheus {
  url: string;
  /** waits until `query` returns at least one series over the last minute, or throws with the log */
  waitFor(query: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPrometheus(o: {
  bin: string;
  /** job name -> host:port targets */
  jobs: Record<string, string[]>;
}): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-prom-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      ...Object.entries(o.jobs).flatMap(([job, targets]) => [
        `  - job_name: ${job}`,
        `    static_configs: [{targets: [${targets.map((t) => `"${t}"`).join(', ')}]}]`,
      ]),
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const proc: ChildProcess = spawn(
    o.bin,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  return {
    url,
    waitFor: async (query, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = Date.now() / 1000;
        const got = await queryRange({
          prometheusUrl: url,
          query,
          startUnixS: now - 60,
          endUnixS: now,
          stepS: 1,
          timeoutMs: 1000,
        }).catch(() => []);
        if (got.length > 0) return;
        if (Date.now() > deadline || proc.exitCode !== null)
          throw new Error(
            `Prometheus had no ${query} after ${timeoutMs / 1000} s; its log:\n${log.slice(-2000)}`,
          );
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    close: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

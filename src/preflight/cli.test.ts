import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { registerCheck } from '../cli/commands/check.js';
import { registerMonitor } from '../cli/commands/monitor.js';
import { parseTimeS, registerScrape } from '../cli/commands/scrape.js';
import type { CliIO } from '../cli/io.js';
import { EXIT, ServelabError } from '../errors.js';
import { type PageServer, startPageServer } from '../metrics/testing/page-server.js';
import { vllmPage } from '../metrics/testing/pages.js';

/** Drives only this module's commands in-process, the way runMain does. */
async function run(argv: string[], opts: { signal?: AbortSignal } = {}) {
  let out = '';
  let err = '';
  let code: number = EXIT.ok;
  const io: CliIO = {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    isTTY: false,
    env: {},
    cwd: mkdtempSync(join(tmpdir(), 'servelab-cli-')),
    signal: opts.signal ?? new AbortController().signal,
  };
  const program = new Command('servelab')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  for (const r of [registerScrape, registerCheck, registerMonitor])
    r(program, { io, setExit: (c) => (code = c) });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof ServelabError) {
      err += e.message;
      code = e.exitCode;
    } else throw e;
  }
  return { out, err, code, cwd: io.cwd };
}

const servers: PageServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('servelab scrape', () => {
  it('samples for --duration into the CSV', async () => {
    const srv = await startPageServer({ page: () => vllmPage() });
    servers.push(srv);
    const r = await run([
      'scrape',
      '--url',
      srv.url,
      '--interval',
      '100ms',
      '--duration',
      '350ms',
      '--out',
      'kv.csv',
    ]);
    expect(r.code).toBe(EXIT.ok);
    const lines = readFileSync(join(r.cwd, 'kv.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe('ts_iso,ts_unix,port,metric,value');
    // the page has two engines: per tick one row each, then the combined row
    expect(lines.length - 1).toBe(12);
    expect(lines[1]).toMatch(new RegExp(`,${srv.port},vllm:kv_cache_usage_perc\\{engine="0"\\},0\\.25$`));
    expect(lines[2]).toMatch(new RegExp(`,${srv.port},vllm:kv_cache_usage_perc\\{engine="1"\\},0\\.75$`));
    expect(lines[3]).toMatch(new RegExp(`,${srv.port},vllm:kv_cache_usage_perc,0\\.625$`));
    expect(r.err).toMatch(/wrote 12 rows in 4 ticks/);
  });

  it('stops on Ctrl-C with the file flushed, exit 130', async () => {
    const srv = await startPageServer({ page: () => vllmPage() });
    servers.push(srv);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 250);
    const r = await run(['scrape', '--url', srv.url, '--interval', '100ms', '--out', 'kv.csv', '--wide'], {
      signal: ac.signal,
    });
    expect(r.code).toBe(EXIT.interrupted);
    const lines = readFileSync(join(r.cwd, 'kv.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe(`ts_iso,ts_unix,${srv.port}:vllm:kv_cache_usage_perc`);
    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  it('rejects bad flags with exit 2', async () => {
    expect((await run(['scrape', '--url', 'http://127.0.0.1:1', '--interval', 'soon'])).code).toBe(
      EXIT.usage,
    );
    expect((await run(['scrape'])).code).toBe(EXIT.usage);
  });

  it('parses --start/--end times', () => {
    expect(parseTimeS('now', '--end', 1000)).toBe(1000);
    expect(parseTimeS('-1h', '--start', 7200)).toBe(3600);
    expect(parseTimeS('1700000000', '--start', 0)).toBe(1_700_000_000);
    expect(parseTimeS('2023-11-14T22:13:20Z', '--start', 0)).toBe(1_700_000_000);
    expect(() => parseTimeS('yesterday', '--start', 0)).toThrow(/not a time/);
  });
});

describe('servelab check', () => {
  it('exit 0 when ready, a table for people; exit 1 with the problem named when not', async () => {
    const srv = await startPageServer({ models: ['m'] });
    servers.push(srv);
    const ok = await run(['check', srv.url, '--model', 'm', '--no-gpu']);
    expect(ok.code).toBe(EXIT.ok);
    expect(ok.out).toMatch(/1\/1 endpoints ready/);
    const closed = await closedPort();
    const cfgDir = mkdtempSync(join(tmpdir(), 'servelab-cfg-'));
    const cfg = join(cfgDir, 'model-config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        m: [
          { ip_addr: '127.0.0.1', port: String(srv.port) },
          { ip_addr: '127.0.0.1', port: String(closed) },
        ],
      }),
    );
    const bad = await run(['check', '--config', cfg, '--no-gpu', '--json']);
    expect(bad.code).toBe(EXIT.failed);
    const rep = JSON.parse(bad.out) as {
      ready: boolean;
      endpoints: { label: string; problems: { code: string }[] }[];
    };
    expect(rep.ready).toBe(false);
    expect(rep.endpoints[1]!.problems[0]!.code).toBe('not_listening');
  });
});

describe('servelab monitor', () => {
  it('prints one block per tick with endpoint state and run progress', async () => {
    const srv = await startPageServer({ page: () => vllmPage() });
    servers.push(srv);
    const runDir = mkdtempSync(join(tmpdir(), 'servelab-run-'));
    const cell = join(runDir, 'baseline', 'c32', 'r1');
    mkdirSync(cell, { recursive: true });
    writeFileSync(
      join(cell, 'cell.json'),
      JSON.stringify({
        v: 1,
        arm: 'baseline',
        status: 'running',
        startMs: Date.now() - 60_000,
        taskSet: { count: 278 },
      }),
    );
    writeFileSync(
      join(cell, 'tasks.jsonl'),
      [-50_000, -40_000, -20_000]
        .map((d, i) =>
          JSON.stringify({
            v: 1,
            status: i === 1 ? 'failed' : 'ok',
            startMs: Date.now() - 60_000,
            endMs: Date.now() + d,
          }),
        )
        .join('\n') + '\n',
    );
    // 10 orchestrator calls and 4 expert calls: 10 steps
    writeFileSync(
      join(cell, 'steps.jsonl'),
      '{"v":1,"kind":"orchestrator","status":"ok"}\n'.repeat(10) +
        '{"v":1,"kind":"expert","status":"ok"}\n'.repeat(4),
    );
    const closed = await closedPort();
    const r = await run([
      'monitor',
      '--url',
      srv.url,
      '--url',
      `http://127.0.0.1:${closed}`,
      '--run',
      runDir,
      '--count',
      '2',
      '--interval',
      '100ms',
      '--no-gpu',
    ]);
    expect(r.code).toBe(EXIT.ok);
    const blocks = r.out.split(/^== /m).filter(Boolean);
    expect(blocks).toHaveLength(2);
    expect(r.out.includes(String.fromCharCode(27))).toBe(false); // no cursor / colour codes
    expect(blocks[0]).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${srv.port}\\s+up\\s+kv\\s+62\\.5%\\s+run\\s+8\\s+wait\\s+1\\s+preempt 6`),
    );
    expect(blocks[0]).toMatch(/engines 25\.0%\/75\.0%/);
    expect(blocks[0]).toMatch(new RegExp(`127\\.0\\.0\\.1:${closed}\\s+DOWN\\s+refused`));
    expect(blocks[0]).toMatch(
      /run {2}baseline\/c32\/r1: tasks 3\/278 \(1%\), ok 2, failed 1, incomplete 0, steps 10 \(expert calls 4, user calls 0\), \d+\.\d+ ok tasks\/min \(all ended \d+\.\d+\) over \d+ s of the cell so far, .*running/,
    );
  });
});

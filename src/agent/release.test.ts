import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeCell } from '../analysis/cell-summary.js';
import { compareCells } from '../analysis/compare.js';
import { cellInput } from '../analysis/testing/fixtures.js';
import { createHttpTransport } from '../client/http-transport.js';
import { type ScriptServer, startScriptServer } from '../client/testing/sse-server.js';
import { freePort } from '../testing/free-port.js';
import { driveCell } from './driver.js';
import type { TaskRecord } from './records.js';
import { liveItems, testProgramContext } from './testing/program-context.js';

let llm: ScriptServer;
let releases: Server;
let releaseBase: string;
const posted: string[] = [];
beforeAll(async () => {
  llm = await startScriptServer();
  // /ok answers 200, anything else 404 (a server without a release endpoint)
  releases = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => {
      body += b.toString();
    });
    req.on('end', () => {
      posted.push(body);
      res.writeHead(req.url === '/ok/programs/release' ? 200 : 404, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => releases.listen(0, '127.0.0.1', r));
  releaseBase = `http://127.0.0.1:${(releases.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await llm.close();
  await new Promise((r) => releases.close(r));
});

async function drive(releaseUrl: string, count = 3) {
  const transport = createHttpTransport({
    headers: { 'x-test': JSON.stringify({ mode: 'normal', chunks: 2 }) },
  });
  const notes: string[] = [];
  const tasks: TaskRecord[] = [];
  const items = liveItems(3, count, 0);
  const ctx = testProgramContext(transport, {
    baseUrl: llm.url,
    config: { timeScale: 0.0001, releaseUrl },
    limits: { maxSteps: 2, maxTaskTimeMs: 60_000, callTimeoutMs: 60_000 },
    cellTag: 'release',
    onNote: (n) => notes.push(n),
  });
  try {
    await driveCell({
      items,
      concurrency: count,
      graceMs: 100,
      watchdogMs: 600_000,
      ctx,
      onTask: (t) => tasks.push(t),
    });
  } finally {
    await transport.close();
  }
  return { tasks, notes };
}

describe('program releases are recorded as data in the task records', () => {
  it('a server without the endpoint: every task record says HTTP 404, and compare raises the confound from the records', async () => {
    const url = `${releaseBase}/programs/release`;
    const { tasks, notes } = await drive(url);
    expect(tasks).toHaveLength(3);
    expect(tasks.map((t) => t.release)).toEqual(Array(3).fill({ ok: false, httpStatus: 404 }));
    expect(posted.some((b) => JSON.parse(b).program_id === tasks[0]!.programId)).toBe(true);
    // the notes still tell a reader; the analysis does not depend on their words
    expect(notes.filter((n) => n.includes('HTTP 404'))).toHaveLength(3);
    const summary = (id: string, ts: TaskRecord[]) =>
      summarizeCell(
        cellInput(id, { meta: { releaseUrl: url, notes: ['reworded: nothing to parse'] }, tasks: ts }),
      );
    const cmp = compareCells([summary('ttl/c3/r1', tasks)]);
    expect(cmp.confounds.find((c) => c.code === 'release-unsupported')?.message).toMatch(
      /HTTP 404 on 3 of 3 program releases/,
    );
  });

  it('a server that releases: ok with its status; nothing listening: not ok, no status', async () => {
    const ok = await drive(`${releaseBase}/ok/programs/release`, 2);
    expect(ok.tasks.map((t) => t.release)).toEqual(Array(2).fill({ ok: true, httpStatus: 200 }));
    expect(ok.notes.filter((n) => n.startsWith('release of'))).toEqual([]);
    const dead = await drive(`http://127.0.0.1:${await freePort()}/programs/release`, 1);
    expect(dead.tasks.map((t) => t.release)).toEqual([{ ok: false }]);
  });
});

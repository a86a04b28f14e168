import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport } from '../client/http-transport.js';
import { type Script, type ScriptServer, startScriptServer } from '../client/testing/sse-server.js';
import { driveCell } from './driver.js';
import type { StepRecord, TaskRecord } from './records.js';
import { liveItems, testProgramContext } from './testing/program-context.js';

let srv: ScriptServer;
beforeAll(async () => {
  srv = await startScriptServer();
});
afterAll(async () => srv.close());

/** One cell of live tasks against the script server, whose every answer follows `script`. */
async function drive(script: Script, stallMs: number | undefined, count = 2, stream = true) {
  const transport = createHttpTransport({ headers: { 'x-test': JSON.stringify(script) } });
  const notes: string[] = [];
  const steps: StepRecord[] = [];
  const tasks: TaskRecord[] = [];
  const items = liveItems(3, count, 1);
  const ctx = testProgramContext(transport, {
    baseUrl: srv.url,
    config: { stream, timeScale: 0.0001 },
    // a long call timeout and task time: without the watchdog a stalled call would hold for minutes
    limits: {
      maxSteps: 6,
      maxTaskTimeMs: 600_000,
      callTimeoutMs: 600_000,
      ...(stallMs !== undefined ? { stallTimeoutMs: stallMs } : {}),
      retry: { maxAttempts: 3, baseMs: 0, capMs: 0 },
    },
    cellTag: 'stall',
    onStep: (r) => steps.push(r),
    onNote: (n) => notes.push(n),
  });
  const t0 = performance.now();
  try {
    const res = await driveCell({
      items,
      concurrency: count,
      graceMs: 100,
      watchdogMs: 600_000,
      ctx,
      onTask: (t) => tasks.push(t),
    });
    return { res, notes, steps, tasks, elapsedMs: performance.now() - t0 };
  } finally {
    await transport.close();
  }
}

describe('the watchdog ends calls that make no progress (real server)', () => {
  it('a stream that stops: the call ends at the stall limit as an error of kind stalled, the task fails', async () => {
    const { res, notes, steps, tasks, elapsedMs } = await drive({ mode: 'stall', chunks: 4, after: 2 }, 300);
    expect(tasks.map((t) => [t.status, t.reason])).toEqual([
      ['failed', 'error:stalled'],
      ['failed', 'error:stalled'],
    ]);
    expect(steps.map((s) => [s.kind, s.status, s.errorKind, s.retries])).toEqual([
      ['orchestrator', 'incomplete', 'stalled', 0],
      ['orchestrator', 'incomplete', 'stalled', 0],
    ]);
    expect(steps[0]?.errorMessage).toContain('ended by the watchdog (limits.stallTimeoutS)');
    expect(notes.filter((n) => /watchdog: ended a call of task \S+: no byte for \d+ s/.test(n))).toHaveLength(
      2,
    );
    expect(res.stalled).toHaveLength(2);
    // ended by the 0.3 s stall limit, far from the 600 s call timeout
    expect(elapsedMs).toBeLessThan(30_000);
  });

  it('a server that never answers: the call ends at the stall limit too', async () => {
    const { tasks, steps } = await drive({ mode: 'hang' }, 300, 1);
    expect(tasks.map((t) => t.reason)).toEqual(['error:stalled']);
    expect(steps.map((s) => [s.status, s.errorKind])).toEqual([['error', 'stalled']]);
  });

  it('a non-streamed call is not watched: it sends nothing until it is whole', async () => {
    // 0.5 s to the whole answer, longer than the 0.2 s limit: not a stall
    const { tasks, notes } = await drive({ chunks: 2, firstDelayMs: 500 }, 200, 1, false);
    expect(tasks.map((t) => t.status)).toEqual(['ok']);
    expect(notes.filter((n) => n.includes('ended a call'))).toEqual([]);
  });

  it('a slow but steady stream is progress: every chunk resets the limit, the tasks end ok', async () => {
    // 8 chunks 100 ms apart: 0.8 s a call, longer than the 0.4 s limit, but never 0.4 s silent
    const { tasks, notes } = await drive({ chunks: 8, gapMs: 100 }, 400, 1);
    expect(tasks.map((t) => t.status)).toEqual(['ok']);
    expect(notes.filter((n) => n.includes('ended a call'))).toEqual([]);
  });
});

describe('step records keep a bounded copy of the server text', () => {
  it("a server's 5 MB JSON error message: the step record keeps its head and its length", async () => {
    const script: Script = { mode: 'status', status: 500, message: 'e'.repeat(1024), messageRepeat: 5120 };
    const { steps, tasks } = await drive(script, undefined, 1);
    expect(tasks.map((t) => t.reason)).toEqual(['error:server_error']);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({
      errorKind: 'server_error',
      errorMessageChars: 5 * 1024 * 1024,
      retries: 2,
    });
    expect(steps[0]!.errorMessage!.length).toBeLessThan(1000);
    expect(steps[0]!.errorMessage).toContain(`HTTP 500: ${'e'.repeat(500)}...`);
  });
});

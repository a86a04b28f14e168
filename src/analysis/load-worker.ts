/**
 * Worker-thread half of the loader: parses one cell's steps.jsonl into a StepTable and hands
 * the typed arrays back (transferred, not copied). JSON.parse of a million lines is the cost of
 * analysing a big run; cells parse in parallel this way.
 */
import { parentPort } from 'node:worker_threads';
import { readStepsFile } from './load.js';

parentPort?.on('message', async (msg: { id: number; path: string }) => {
  try {
    const r = await readStepsFile(msg.path);
    const t = r.table;
    const buffers = [
      t.kind,
      t.status,
      t.nextType,
      t.retries,
      t.sentMs,
      t.firstTokenMs,
      t.endMs,
      t.nextDurationMs,
      t.routerQueueMs,
      t.program,
      t.errorKind,
    ].map((a) => a.buffer as ArrayBuffer);
    parentPort!.postMessage({ id: msg.id, ok: true, result: r }, buffers);
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, error: (err as Error).message });
  }
});

parentPort?.postMessage({ ready: true });

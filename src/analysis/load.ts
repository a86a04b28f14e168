/**
 * The one place in analysis/ that reads files: run directories into plain inputs for the pure
 * functions. Tolerates partial runs: JSONL lines that do not parse (a truncated last line of a
 * run cut mid-write) are skipped and counted, missing files are listed, not fatal.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { StepRecord, TaskRecord } from '../agent/records.js';
import { ServelabError } from '../errors.js';
import type { RequestRecord } from '../loadgen/records.js';
import { readCellJson, readEnvironment, readRunJson } from '../rundir/run-dir.js';
import type { KvSample } from './kv-window.js';
import type {
  AgentRunInput,
  BenchRunInput,
  CellInput,
  CellMeta,
  RunInput,
  RunMeta,
  SkippedLines,
} from './run-types.js';
import { type StepTable, StepTableBuilder } from './step-table.js';

const CHUNK_BYTES = 4 << 20;

/**
 * Streams a text file line by line (fixed-size reads, never the whole file as one string).
 * `onLine` returns false for a line it could not use; those are counted as skipped.
 * Returns null when the file does not exist.
 */
export async function readLines(
  path: string,
  onLine: (line: string) => boolean,
): Promise<{ lines: number; skipped: number; lastLineBad: boolean } | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let lines = 0;
  let skipped = 0;
  let lastLineBad = false;
  const handle = (text: string) => {
    if (text.trim() === '') return;
    lines++;
    const ok = onLine(text);
    if (!ok) skipped++;
    lastLineBad = !ok;
  };
  try {
    let buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry = 0; // bytes of an unfinished line at the start of buf
    for (;;) {
      if (carry === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, carry);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, carry, buf.length - carry, null);
      const end = carry + bytesRead;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl < 0 || nl >= end) break;
        handle(buf.toString('utf8', start, nl));
        start = nl + 1;
      }
      if (bytesRead === 0) {
        if (start < end) handle(buf.toString('utf8', start, end));
        break;
      }
      buf.copy(buf, 0, start, end);
      carry = end - start;
    }
  } finally {
    await fh.close();
  }
  return { lines, skipped, lastLineBad };
}

/** JSON Lines through readLines: a line that does not parse is skipped and counted. */
export function readJsonl(path: string, onRecord: (value: unknown) => void) {
  return readLines(path, (line) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return false;
    }
    onRecord(v);
    return true;
  });
}

async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ServelabError('BAD_FILE', `${path} is not valid JSON`, {
      cause: err,
      hint: 'was the run cut while writing it?',
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Parses kv_timeseries.csv (`ts_iso,ts_unix,port,metric,value`); metrics may hold labels with commas. */
export function parseTimeseriesCsv(text: string): { samples: KvSample[]; skipped: number } {
  const samples: KvSample[] = [];
  let skipped = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || (i === 0 && line.startsWith('ts_iso'))) continue;
    const parts = line.split(',');
    if (parts.length < 5) {
      skipped++;
      continue;
    }
    const tsUnix = Number(parts[1]);
    const port = Number(parts[2]);
    const value = Number(parts[parts.length - 1]);
    const metric = parts.slice(3, -1).join(',');
    if (!Number.isFinite(tsUnix) || !Number.isFinite(port) || !Number.isFinite(value)) {
      skipped++;
      continue;
    }
    samples.push({ tsMs: tsUnix * 1000, port, metric, value });
  }
  return { samples, skipped };
}

async function readKv(path: string, skipped: SkippedLines[], missing: string[]): Promise<KvSample[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    missing.push('kv_timeseries.csv');
    return [];
  }
  const parsed = parseTimeseriesCsv(text);
  if (parsed.skipped)
    skipped.push({
      file: 'kv_timeseries.csv',
      lines: parsed.skipped,
      lastLineOnly: !text.endsWith('\n') && parsed.skipped === 1,
    });
  return parsed.samples;
}

export interface StepsFile {
  table: StepTable;
  /** null when the file does not exist */
  stats: { lines: number; skipped: number; lastLineBad: boolean } | null;
}

/** Parses one steps.jsonl into columns (also run inside load-worker.ts). */
export async function readStepsFile(path: string): Promise<StepsFile> {
  const builder = new StepTableBuilder(4096);
  const stats = await readLines(path, (line) => {
    let r: StepRecord;
    try {
      r = JSON.parse(line) as StepRecord;
    } catch {
      return false;
    }
    if (!r || typeof r.sentMs !== 'number' || typeof r.endMs !== 'number') return false;
    builder.add(r);
    return true;
  });
  const t = builder.build();
  // trim to length so the worker transfers no slack
  const table: StepTable = {
    ...t,
    kind: t.kind.slice(0, t.n),
    status: t.status.slice(0, t.n),
    nextType: t.nextType.slice(0, t.n),
    retries: t.retries.slice(0, t.n),
    sentMs: t.sentMs.slice(0, t.n),
    firstTokenMs: t.firstTokenMs.slice(0, t.n),
    endMs: t.endMs.slice(0, t.n),
    nextDurationMs: t.nextDurationMs.slice(0, t.n),
    routerQueueMs: t.routerQueueMs.slice(0, t.n),
    program: t.program.slice(0, t.n),
    errorKind: t.errorKind.slice(0, t.n),
  };
  return { table, stats };
}

type StepsReader = (path: string) => Promise<StepsFile>;

/**
 * Parses big steps.jsonl files on worker threads (one per core, at most 4) when the compiled
 * worker can be loaded; otherwise (tests under a TS transformer, one small file) in this thread.
 */
async function parallelStepsReader(
  paths: string[],
  minBytes: number,
): Promise<{ reader: StepsReader; close: () => Promise<void> } | null> {
  let bytes = 0;
  for (const p of paths) {
    try {
      bytes += (await stat(p)).size;
    } catch {
      // missing: the reader reports it
    }
  }
  if (bytes < minBytes || paths.length < 2) return null;
  const here = fileURLToPath(import.meta.url);
  const workerFile = join(dirname(here), `load-worker${extname(here)}`);
  if (!(await exists(workerFile))) return null;
  const n = Math.max(1, Math.min(4, availableParallelism(), paths.length));
  const workers: Worker[] = [];
  try {
    // from sources (tsx, vitest) the worker registers tsx itself: loader hooks do not reach workers
    const spawn = () =>
      extname(workerFile) === '.ts'
        ? new Worker(
            `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(workerFile).href)}); })`,
            { eval: true },
          )
        : new Worker(workerFile);
    for (let i = 0; i < n; i++) workers.push(spawn());
    // a worker that cannot load its module (a .ts file without a TS loader) errors before 'ready'
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', (m: { ready?: boolean }) =>
              m.ready ? resolve() : reject(new Error('worker not ready')),
            );
            w.once('error', reject);
            w.once('exit', () => reject(new Error('worker exited')));
          }),
      ),
    );
  } catch {
    await Promise.all(workers.map((w) => w.terminate()));
    return null;
  }
  let seq = 0;
  const idle = [...workers];
  const waiting: ((w: Worker) => void)[] = [];
  const acquire = () => new Promise<Worker>((r) => (idle.length ? r(idle.pop()!) : waiting.push(r)));
  const release = (w: Worker) => (waiting.length ? waiting.shift()!(w) : idle.push(w));
  const reader: StepsReader = async (path) => {
    const w = await acquire();
    const id = ++seq;
    try {
      return await new Promise<StepsFile>((resolve, reject) => {
        const onMsg = (m: { id: number; ok: boolean; result?: StepsFile; error?: string }) => {
          if (m.id !== id) return;
          w.off('message', onMsg);
          w.off('error', reject);
          if (m.ok) resolve(m.result!);
          else reject(new Error(m.error));
        };
        w.on('message', onMsg);
        w.once('error', reject);
        w.postMessage({ id, path });
      });
    } finally {
      release(w);
    }
  };
  return { reader, close: async () => void (await Promise.all(workers.map((w) => w.terminate()))) };
}

export async function loadCell(dir: string, id: string, stepsReader?: StepsReader): Promise<CellInput> {
  const skipped: SkippedLines[] = [];
  const missing: string[] = [];
  let meta: CellMeta = {};
  try {
    // cell.json's one reader is the run directory's (src/rundir)
    const m = readCellJson(dir);
    if (m === null) missing.push('cell.json');
    else meta = m as CellMeta;
  } catch (err) {
    // a cell cut while rewriting cell.json (or edited by hand): analyse its records anyway
    missing.push(
      /not valid JSON/.test((err as Error).message)
        ? 'a readable cell.json (it does not parse)'
        : `a readable cell.json (${(err as Error).message})`,
    );
  }
  const sr = await (stepsReader ?? readStepsFile)(join(dir, 'steps.jsonl'));
  if (sr.stats === null) missing.push('steps.jsonl');
  else if (sr.stats.skipped)
    skipped.push({
      file: 'steps.jsonl',
      lines: sr.stats.skipped,
      lastLineOnly: sr.stats.skipped === 1 && sr.stats.lastLineBad,
    });
  const tasks: TaskRecord[] = [];
  const tr = await readJsonl(join(dir, 'tasks.jsonl'), (v) => {
    const t = v as TaskRecord;
    if (t && typeof t.startMs === 'number' && typeof t.endMs === 'number') tasks.push(t);
  });
  if (tr === null) missing.push('tasks.jsonl');
  else if (tr.skipped)
    skipped.push({
      file: 'tasks.jsonl',
      lines: tr.skipped,
      lastLineOnly: tr.skipped === 1 && tr.lastLineBad,
    });
  const kv = await readKv(join(dir, 'kv_timeseries.csv'), skipped, missing);
  return { id, meta, steps: sr.table, tasks, kv, skipped, missing };
}

/** Cell ids `<arm>/c<N>/r<k>` found under an agent run dir (when run.json does not list them). */
async function findCells(dir: string): Promise<string[]> {
  const out: string[] = [];
  const sub = async (p: string) => (await readdir(p, { withFileTypes: true })).filter((e) => e.isDirectory());
  for (const arm of await sub(dir)) {
    for (const c of await sub(join(dir, arm.name))) {
      if (!/^c\d+$/.test(c.name)) continue;
      for (const r of await sub(join(dir, arm.name, c.name)))
        if (/^r\d+$/.test(r.name)) out.push(`${arm.name}/${c.name}/${r.name}`);
    }
  }
  return out.sort();
}

export interface LoadOptions {
  /** total steps.jsonl bytes from which cells parse on worker threads (default 64 MiB) */
  parallelMinBytes?: number;
}

export async function loadRun(dir: string, opts: LoadOptions = {}): Promise<RunInput> {
  if (!(await exists(dir))) throw new ServelabError('NOT_FOUND', `run directory ${dir} does not exist`);
  const run: RunMeta = readRunJson(dir) ?? {};
  const isBench =
    run.kind === 'bench' || (run.kind === undefined && (await exists(join(dir, 'requests.jsonl'))));
  if (isBench) return loadBench(dir, run);
  // a single cell dir given directly
  if (run.kind === undefined && (await exists(join(dir, 'cell.json')))) {
    const cell = await loadCell(dir, '');
    const id = `${cell.meta.arm ?? 'arm'}/c${cell.meta.concurrency ?? 0}/r${cell.meta.rep ?? 1}`;
    return { kind: 'agent', dir, run: { kind: 'agent' }, environment: null, cells: [{ ...cell, id }] };
  }
  const ids = Array.isArray(run.cells) && run.cells.length ? run.cells : await findCells(dir);
  if (ids.length === 0)
    throw new ServelabError(
      'BAD_FILE',
      `${dir} holds no run: no run.json cells, no <arm>/c<N>/r<k> directories, no requests.jsonl`,
      {
        hint: 'pass a directory written by `servelab run` or `servelab bench`',
      },
    );
  const environment = readEnvironment(dir) as Record<string, unknown> | null;
  const parallel = await parallelStepsReader(
    ids.map((id) => join(dir, id, 'steps.jsonl')),
    opts.parallelMinBytes ?? 64 << 20,
  );
  try {
    const cells = await Promise.all(ids.map((id) => loadCellOrMissing(dir, id, parallel?.reader)));
    return { kind: 'agent', dir, run, environment, cells } satisfies AgentRunInput;
  } finally {
    await parallel?.close();
  }
}

async function loadCellOrMissing(
  dir: string,
  id: string,
  reader: StepsReader | undefined,
): Promise<CellInput> {
  {
    const cdir = join(dir, id);
    if (!(await exists(cdir))) {
      return {
        id,
        meta: { status: 'missing' },
        steps: new StepTableBuilder(16).build(),
        tasks: [],
        kv: [],
        skipped: [],
        missing: ['the cell directory'],
      };
    }
    return loadCell(cdir, id, reader);
  }
}

async function loadBench(dir: string, run: RunMeta): Promise<BenchRunInput> {
  const skipped: SkippedLines[] = [];
  const missing: string[] = [];
  const requests: RequestRecord[] = [];
  const rr = await readJsonl(join(dir, 'requests.jsonl'), (v) => {
    const r = v as RequestRecord;
    if (r && typeof r.sentMs === 'number') requests.push(r);
  });
  if (rr === null) missing.push('requests.jsonl');
  else if (rr.skipped)
    skipped.push({
      file: 'requests.jsonl',
      lines: rr.skipped,
      lastLineOnly: rr.skipped === 1 && rr.lastLineBad,
    });
  const summary = await readJson<Record<string, unknown>>(join(dir, 'summary.json'));
  const kvMissing: string[] = [];
  const kv = await readKv(join(dir, 'kv_timeseries.csv'), skipped, kvMissing);
  return { kind: 'bench', dir, run, requests, summary, kv, skipped, missing };
}

/**
 * The one place in analysis/ that reads files: run directories into plain inputs for the pure
 * functions. Tolerates partial runs: JSONL lines that do not parse (a truncated last line of a
 * run cut mid-write) are skipped and counted, missing files are listed, not fatal.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepRecord, TaskRecord } from '../agent/records.js';
import { ServelabError } from '../errors.js';
import type { RequestRecord } from '../loadgen/records.js';
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
import { StepTableBuilder } from './step-table.js';

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

export async function loadCell(dir: string, id: string): Promise<CellInput> {
  const skipped: SkippedLines[] = [];
  const missing: string[] = [];
  const meta = (await readJson<CellMeta>(join(dir, 'cell.json'))) ?? {};
  if (!(await exists(join(dir, 'cell.json')))) missing.push('cell.json');
  const builder = new StepTableBuilder(4096);
  const sr = await readLines(join(dir, 'steps.jsonl'), (line) => {
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
  if (sr === null) missing.push('steps.jsonl');
  else if (sr.skipped)
    skipped.push({
      file: 'steps.jsonl',
      lines: sr.skipped,
      lastLineOnly: sr.skipped === 1 && sr.lastLineBad,
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
  return { id, meta, steps: builder.build(), tasks, kv, skipped, missing };
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

export async function loadRun(dir: string): Promise<RunInput> {
  if (!(await exists(dir))) throw new ServelabError('NOT_FOUND', `run directory ${dir} does not exist`);
  const run = (await readJson<RunMeta>(join(dir, 'run.json'))) ?? {};
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
  const environment = await readJson<Record<string, unknown>>(join(dir, 'environment.json'));
  const cells: CellInput[] = [];
  for (const id of ids) {
    const cdir = join(dir, id);
    if (!(await exists(cdir))) {
      cells.push({
        id,
        meta: { status: 'missing' },
        steps: new StepTableBuilder(16).build(),
        tasks: [],
        kv: [],
        skipped: [],
        missing: ['the cell directory'],
      });
      continue;
    }
    cells.push(await loadCell(cdir, id));
  }
  return { kind: 'agent', dir, run, environment, cells } satisfies AgentRunInput;
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

/**
 * Progress of a servelab run directory (docs/FORMATS.md), read incrementally so `monitor` can
 * poll a long run every few seconds: lines of tasks.jsonl / steps.jsonl / requests.jsonl in the
 * newest cell, records that are not ok, done / total from cell.json, and rates.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const RECORD_FILES = ['tasks.jsonl', 'steps.jsonl', 'requests.jsonl'] as const;
type RecordFile = (typeof RECORD_FILES)[number];

interface Tail {
  offset: number;
  partial: string;
  lines: number;
  notOk: number;
}

export interface CellProgress {
  /** the cell directory, relative to the run directory ('.' for a flat run) */
  cell: string;
  status?: string;
  /** tasks (agent) or requests (bench) finished */
  done: number;
  total?: number;
  steps?: number;
  /** records with a status other than ok */
  errors: number;
  counts: Partial<Record<RecordFile, number>>;
  /** done per minute since the cell started (cell.json startMs), when known */
  perMinSinceStart?: number;
  /** done per minute since the previous read */
  perMinRecent?: number;
}

function isCell(dir: string): boolean {
  return existsSync(join(dir, 'cell.json')) || RECORD_FILES.some((f) => existsSync(join(dir, f)));
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const f of ['cell.json', ...RECORD_FILES]) {
    try {
      t = Math.max(t, statSync(join(dir, f)).mtimeMs);
    } catch {
      // absent
    }
  }
  return t;
}

/** Cell directories under a run directory, up to 4 levels deep (<arm>/c<N>/r<k>). */
function findCells(root: string, depth = 0): string[] {
  if (isCell(root)) return [root];
  if (depth >= 4) return [];
  let entries: string[];
  try {
    entries = readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'logs')
      .map((d) => join(root, d.name));
  } catch {
    return [];
  }
  return entries.flatMap((d) => findCells(d, depth + 1));
}

export class RunProgressReader {
  private tails = new Map<string, Tail>();
  private last?: { cell: string; done: number; atMs: number };

  constructor(
    readonly runDir: string,
    private readonly nowMs: () => number = Date.now,
  ) {}

  private readTail(path: string): Tail {
    let t = this.tails.get(path);
    if (!t) {
      t = { offset: 0, partial: '', lines: 0, notOk: 0 };
      this.tails.set(path, t);
    }
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return t;
    }
    if (size < t.offset) Object.assign(t, { offset: 0, partial: '', lines: 0, notOk: 0 }); // rewritten
    if (size === t.offset) return t;
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(Math.min(size - t.offset, 64 * 1024 * 1024));
      const n = readSync(fd, buf, 0, buf.length, t.offset);
      t.offset += n;
      const text = t.partial + buf.subarray(0, n).toString('utf8');
      const lines = text.split('\n');
      t.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        t.lines++;
        const m = /"status"\s*:\s*"([a-z_]+)"/.exec(line);
        if (m && m[1] !== 'ok') t.notOk++;
      }
    } finally {
      closeSync(fd);
    }
    return t;
  }

  /** The newest cell's progress, or undefined when the directory holds no cell yet. */
  read(): CellProgress | undefined {
    const cells = findCells(this.runDir);
    if (cells.length === 0) return undefined;
    const cell = cells.reduce((a, b) => (newestMtime(b) > newestMtime(a) ? b : a));
    const counts: Partial<Record<RecordFile, number>> = {};
    let errorsTasks = 0;
    let errorsReq = 0;
    for (const f of RECORD_FILES) {
      const p = join(cell, f);
      if (!existsSync(p)) continue;
      const t = this.readTail(p);
      counts[f] = t.lines;
      if (f === 'tasks.jsonl') errorsTasks = t.notOk;
      if (f === 'requests.jsonl') errorsReq = t.notOk;
    }
    let meta: { status?: string; startMs?: number; taskSet?: { count?: number } } = {};
    try {
      meta = JSON.parse(readFileSync(join(cell, 'cell.json'), 'utf8')) as typeof meta;
    } catch {
      // no cell.json (bench) or being rewritten
    }
    const agent = counts['tasks.jsonl'] !== undefined || counts['steps.jsonl'] !== undefined;
    const done = agent ? (counts['tasks.jsonl'] ?? 0) : (counts['requests.jsonl'] ?? 0);
    const rel = relative(this.runDir, cell) || '.';
    const now = this.nowMs();
    const p: CellProgress = {
      cell: rel,
      done,
      errors: agent ? errorsTasks : errorsReq,
      counts,
      ...(meta.status ? { status: meta.status } : {}),
      ...(typeof meta.taskSet?.count === 'number' ? { total: meta.taskSet.count } : {}),
      ...(counts['steps.jsonl'] !== undefined ? { steps: counts['steps.jsonl'] } : {}),
    };
    // cell.json times are monotonic ms anchored to the epoch: comparable with Date.now()
    if (typeof meta.startMs === 'number' && now > meta.startMs)
      p.perMinSinceStart = done / ((now - meta.startMs) / 60_000);
    if (this.last && this.last.cell === rel && now > this.last.atMs)
      p.perMinRecent = (done - this.last.done) / ((now - this.last.atMs) / 60_000);
    this.last = { cell: rel, done, atMs: now };
    return p;
  }
}

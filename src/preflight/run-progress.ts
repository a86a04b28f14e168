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
  /** records by status (ok, failed, incomplete, error, ...) */
  byStatus: Record<string, number>;
  /** steps.jsonl: calls by kind (orchestrator, expert, user) */
  byKind: Record<string, number>;
  /** tasks.jsonl: the first task start and the last task end seen */
  firstStartMs: number;
  lastEndMs: number;
}

const freshTail = (): Omit<Tail, 'offset' | 'partial'> => ({
  lines: 0,
  notOk: 0,
  byStatus: {},
  byKind: {},
  firstStartMs: Number.POSITIVE_INFINITY,
  lastEndMs: Number.NEGATIVE_INFINITY,
});

export interface CellProgress {
  /** the cell directory, relative to the run directory ('.' for a flat run) */
  cell: string;
  status?: string;
  /** tasks (agent) or requests (bench) finished, any status */
  done: number;
  /** of those, with status ok */
  ok: number;
  /** agent: tasks failed / incomplete (apart: an interrupted task is not a failure) */
  failed?: number;
  incomplete?: number;
  total?: number;
  /** orchestrator LLM calls (a step is an orchestrator call, never an expert or user call) */
  steps?: number;
  expertCalls?: number;
  userCalls?: number;
  /** records with a status other than ok */
  errors: number;
  counts: Partial<Record<RecordFile, number>>;
  /**
   * agent: ok tasks per minute over the cell's own makespan (first task start -> last task end
   * once the cell has ended, -> now while it runs), as the analysis defines it
   */
  okPerMin?: number;
  /** agent: every task that ended, per minute over the same span */
  allPerMin?: number;
  /** the span those rates are over, seconds */
  spanS?: number;
  /** done per minute since the previous read (while the cell runs) */
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
      t = { offset: 0, partial: '', ...freshTail() };
      this.tails.set(path, t);
    }
    const isTasks = path.endsWith('tasks.jsonl');
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return t;
    }
    if (size < t.offset) Object.assign(t, { offset: 0, partial: '', ...freshTail() }); // rewritten
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
        if (m) t.byStatus[m[1]!] = (t.byStatus[m[1]!] ?? 0) + 1;
        if (m && m[1] !== 'ok') t.notOk++;
        const k = /"kind"\s*:\s*"([a-z_]+)"/.exec(line);
        if (k) t.byKind[k[1]!] = (t.byKind[k[1]!] ?? 0) + 1;
        if (isTasks) {
          const a = /"startMs"\s*:\s*([\d.e+]+)/.exec(line);
          const b = /"endMs"\s*:\s*([\d.e+]+)/.exec(line);
          if (a) t.firstStartMs = Math.min(t.firstStartMs, Number(a[1]));
          if (b) t.lastEndMs = Math.max(t.lastEndMs, Number(b[1]));
        }
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
    const tails: Partial<Record<RecordFile, Tail>> = {};
    for (const f of RECORD_FILES) {
      const p = join(cell, f);
      if (!existsSync(p)) continue;
      const t = this.readTail(p);
      counts[f] = t.lines;
      tails[f] = t;
    }
    let meta: { status?: string; startMs?: number; endMs?: number; taskSet?: { count?: number } } = {};
    try {
      meta = JSON.parse(readFileSync(join(cell, 'cell.json'), 'utf8')) as typeof meta;
    } catch {
      // no cell.json (bench) or being rewritten
    }
    const agent = counts['tasks.jsonl'] !== undefined || counts['steps.jsonl'] !== undefined;
    const records = agent ? tails['tasks.jsonl'] : tails['requests.jsonl'];
    const done = records?.lines ?? 0;
    const rel = relative(this.runDir, cell) || '.';
    const now = this.nowMs();
    const p: CellProgress = {
      cell: rel,
      done,
      ok: records?.byStatus.ok ?? 0,
      errors: records?.notOk ?? 0,
      counts,
      ...(meta.status ? { status: meta.status } : {}),
      ...(typeof meta.taskSet?.count === 'number' ? { total: meta.taskSet.count } : {}),
    };
    if (agent) {
      p.failed = records?.byStatus.failed ?? 0;
      p.incomplete = records?.byStatus.incomplete ?? 0;
      const steps = tails['steps.jsonl'];
      if (steps) {
        p.steps = steps.byKind.orchestrator ?? 0;
        p.expertCalls = steps.byKind.expert ?? 0;
        p.userCalls = steps.byKind.user ?? 0;
      }
      // the cell's own makespan: a finished cell shows its real rate, not one diluted by the
      // time since (cell.json times are monotonic ms anchored to the epoch: like Date.now())
      const running = meta.status === undefined || meta.status === 'running';
      const start = records && Number.isFinite(records.firstStartMs) ? records.firstStartMs : undefined;
      const end = running
        ? now
        : records && Number.isFinite(records.lastEndMs)
          ? records.lastEndMs
          : undefined;
      if (start !== undefined && end !== undefined && end > start) {
        p.spanS = (end - start) / 1000;
        p.okPerMin = p.ok / (p.spanS / 60);
        p.allPerMin = done / (p.spanS / 60);
      }
      if (!running) {
        this.last = { cell: rel, done, atMs: now };
        return p;
      }
    }
    if (this.last && this.last.cell === rel && now > this.last.atMs)
      p.perMinRecent = (done - this.last.done) / ((now - this.last.atMs) / 60_000);
    this.last = { cell: rel, done, atMs: now };
    return p;
  }
}

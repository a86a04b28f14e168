import type { CellSummary } from './cell-summary.js';
import type { ServerInfo } from './run-types.js';
import { type MeanCI, meanCI, type WelchResult, welchTTest } from './student-t.js';
import type { WindowKind } from './windows.js';

export type CompareMetric = 'okTasksPerMin' | 'allTasksPerMin' | 'okStepsPerS' | 'allStepsPerS';
/** the headline (ok tasks/min) first; "all ended" beside it (analysis/throughput.ts) */
export const COMPARE_METRICS: CompareMetric[] = [
  'okTasksPerMin',
  'allTasksPerMin',
  'okStepsPerS',
  'allStepsPerS',
];

export interface CellStat extends MeanCI {
  values: number[];
  /** cells of this arm and concurrency whose window had no rate (no KV window, zero length) */
  missing: number;
}

export interface CompareRow {
  concurrency: number;
  window: WindowKind;
  metric: CompareMetric;
  byArm: Record<string, CellStat>;
  winner: string | null;
  /** how sure the winner is: Welch's test against the runner-up, or why there is none */
  winnerTest: WelchResult | null;
  winnerNote: string;
  ratioToBaseline: Record<string, number | null>;
  vsBaseline: Record<string, WelchResult | null>;
}

export type Severity = 'high' | 'medium' | 'info';

/** how a cell note or self-check warning says the client, not the server, limited the run */
export const CLIENT_BOTTLENECK = /bottleneck|saturat|event[- ]loop/i;

export interface Confound {
  severity: Severity;
  code:
    | 'server-version'
    | 'server-flags'
    | 'task-set'
    | 'failed-tasks'
    | 'incomplete-tasks'
    | 'arm-split'
    | 'release-unsupported'
    | 'release-failed'
    | 'interrupted'
    | 'field-ignored'
    | 'field-unobservable'
    | 'client-bottleneck'
    | 'one-repetition'
    | 'window-disagreement'
    | 'no-kv-window'
    | 'retried-context-length'
    | 'step-count-mismatch'
    | 'missing-cell';
  message: string;
}

export interface Comparison {
  v: 1;
  arms: string[];
  baseline: string;
  concurrencies: number[];
  windows: WindowKind[];
  repetitions: Record<string, number>;
  rows: CompareRow[];
  confounds: Confound[];
  definitions: Record<string, string>;
}

export const COMPARE_DEFINITIONS: Record<string, string> = {
  mean: 'mean over repetitions of the cell',
  ci95: '95 % confidence interval of the mean, Student t with n - 1 degrees of freedom; none with one repetition',
  winner:
    'the arm with the highest mean in the row; "significant" means Welch\'s two-sided t-test against the runner-up gives p < 0.05; the users\' table names the winner on ok tasks/min',
  arm: 'cells with the same arm name are repetitions of one arm only when their servers ran the same versions and flags; an arm name found in several run dirs with different servers becomes one arm per run dir ("<arm>@<run dir>"), with an arm-split warning',
  ratio: 'arm mean / baseline mean in the same row',
  steps: 'orchestrator LLM calls only (not expert or user calls, not driver turn changes)',
};

const versionOf = (s: ServerInfo) =>
  s.version === undefined || s.version === null || s.version === 'unknown' || s.version === ''
    ? null
    : String(s.version);
const PLACEMENT_KEYS = new Set(['name', 'label', 'port', 'host', 'url', 'log']);

const flagsOf = (s: ServerInfo): string[] => {
  const f: unknown = s.flags;
  if (Array.isArray(f)) return f.map(String);
  if (typeof f === 'string') return f.split(/\s+/).filter(Boolean);
  // identity and placement (name, port) differ between arms by design; the rest is configuration
  if (f && typeof f === 'object')
    return Object.entries(f)
      .filter(([k]) => !PLACEMENT_KEYS.has(k))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return [];
};

/** a cell's name in messages: `run/arm/cN/rK` when cells come from several run dirs */
export const cellLabel = (c: CellSummary) => (c.source ? `${c.source}:${c.id}` : c.id);

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** What makes two cells of one arm name the same arm: the servers' versions and flags. */
function serverFingerprint(c: CellSummary): { key: string; text: string } {
  const versions = uniq(c.context.servers.map((s) => versionOf(s) ?? '?')).sort();
  const flags = uniq(c.context.servers.flatMap(flagsOf)).sort();
  return {
    key: JSON.stringify({ versions, flags }),
    text: `version ${versions.join(', ') || '?'}${flags.length ? `; flags ${flags.join(' ')}` : ''}`,
  };
}

/**
 * Cells that share an arm name but ran different servers (two `servelab agent` runs are both
 * "agent") are NOT pooled as repetitions: each server configuration becomes its own arm,
 * `<arm>@<run dir>` (or `<arm>#k` when one run dir holds several), and a HIGH warning says so.
 */
export function splitArms(cells: readonly CellSummary[]): {
  cells: CellSummary[];
  confounds: Confound[];
  renamed: Map<string, string[]>;
} {
  const confounds: Confound[] = [];
  const renamed = new Map<string, string[]>();
  const out = [...cells];
  for (const arm of uniq(cells.map((c) => c.arm))) {
    const groups = new Map<string, { text: string; idx: number[] }>();
    cells.forEach((c, i) => {
      if (c.arm !== arm) return;
      const f = serverFingerprint(c);
      const g = groups.get(f.key) ?? { text: f.text, idx: [] };
      g.idx.push(i);
      groups.set(f.key, g);
    });
    if (groups.size < 2) continue;
    const list = [...groups.values()];
    const sourcesOf = (g: { idx: number[] }) => uniq(g.idx.map((i) => cells[i]!.source ?? ''));
    const bySource =
      list.every((g) => sourcesOf(g).every((s) => s !== '')) &&
      uniq(list.flatMap(sourcesOf)).length === list.reduce((n, g) => n + sourcesOf(g).length, 0);
    const names = list.map((g, k) => (bySource ? `${arm}@${sourcesOf(g).join('+')}` : `${arm}#${k + 1}`));
    list.forEach((g, k) => {
      for (const i of g.idx) out[i] = { ...cells[i]!, arm: names[k]! };
    });
    renamed.set(arm, names);
    confounds.push({
      severity: 'high',
      code: 'arm-split',
      message: `arm "${arm}" ran different servers in different cells (${list.map((g, k) => `${names[k]}: ${g.text}`).join('; ')}): they are compared as ${list.length} separate arms, not pooled as repetitions of one`,
    });
  }
  return { cells: out, confounds, renamed };
}

/** Arms x concurrency, per window kind and metric, with confidence and confound warnings. */
export function compareCells(input: readonly CellSummary[], opts: { baseline?: string } = {}): Comparison {
  const split = splitArms(input);
  const cells = split.cells;
  const arms = uniq(cells.map((c) => c.arm));
  const wanted = opts.baseline ? (split.renamed.get(opts.baseline)?.[0] ?? opts.baseline) : undefined;
  const baseline =
    wanted && arms.includes(wanted) ? wanted : arms.includes('baseline') ? 'baseline' : (arms[0] ?? '');
  const concurrencies = uniq(cells.map((c) => c.concurrency ?? 0)).sort((a, b) => a - b);
  const windows = uniq(cells.flatMap((c) => c.windows.map((w) => w.kind)));
  const group = (arm: string, conc: number) =>
    cells.filter((c) => c.arm === arm && (c.concurrency ?? 0) === conc);
  const repetitions: Record<string, number> = {};
  for (const arm of arms) for (const c of concurrencies) repetitions[`${arm}/c${c}`] = group(arm, c).length;

  const rows: CompareRow[] = [];
  for (const conc of concurrencies)
    for (const window of windows)
      for (const metric of COMPARE_METRICS) {
        const byArm: Record<string, CellStat> = {};
        for (const arm of arms) {
          const g = group(arm, conc);
          const vals: number[] = [];
          let missing = 0;
          for (const c of g) {
            const v = c.windows.find((w) => w.kind === window)?.[metric];
            if (typeof v === 'number' && Number.isFinite(v)) vals.push(v);
            else missing++;
          }
          byArm[arm] = { ...meanCI(vals), values: vals, missing };
        }
        const ranked = arms.filter((a) => byArm[a]!.n > 0).sort((a, b) => byArm[b]!.mean - byArm[a]!.mean);
        const winner = ranked[0] ?? null;
        let winnerTest: WelchResult | null = null;
        let winnerNote: string;
        if (!winner) winnerNote = 'no arm has a rate in this window';
        else if (ranked.length < 2) winnerNote = 'only one arm has a rate in this window';
        else {
          const a = byArm[winner]!;
          const b = byArm[ranked[1]!]!;
          if (a.n < 2 || b.n < 2) winnerNote = 'one repetition: no confidence can be given';
          else {
            winnerTest = welchTTest(a.values, b.values);
            winnerNote = winnerTest.significant
              ? `significant vs ${ranked[1]} (Welch's t-test, p = ${winnerTest.p.toPrecision(2)})`
              : `not significant vs ${ranked[1]} (Welch's t-test, p = ${winnerTest.p.toPrecision(2)})`;
          }
        }
        const base = byArm[baseline];
        const ratioToBaseline: Record<string, number | null> = {};
        const vsBaseline: Record<string, WelchResult | null> = {};
        for (const arm of arms) {
          const s = byArm[arm]!;
          ratioToBaseline[arm] = base && base.n > 0 && s.n > 0 && base.mean !== 0 ? s.mean / base.mean : null;
          vsBaseline[arm] =
            arm !== baseline && base && base.n >= 2 && s.n >= 2 ? welchTTest(s.values, base.values) : null;
        }
        rows.push({
          concurrency: conc,
          window,
          metric,
          byArm,
          winner,
          winnerTest,
          winnerNote,
          ratioToBaseline,
          vsBaseline,
        });
      }

  return {
    v: 1,
    arms,
    baseline,
    concurrencies,
    windows,
    repetitions,
    rows,
    confounds: [...split.confounds, ...findConfounds(cells, arms, concurrencies, rows)].sort(
      (a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity],
    ),
    definitions: COMPARE_DEFINITIONS,
  };
}

export function findConfounds(
  cells: readonly CellSummary[],
  arms: string[],
  concurrencies: number[],
  rows: CompareRow[] = [],
): Confound[] {
  const out: Confound[] = [];
  const byArm = (arm: string) => cells.filter((c) => c.arm === arm);

  // server versions and flags
  const versions = new Map<string, string>();
  const flags = new Map<string, Set<string>>();
  for (const arm of arms) {
    const servers = byArm(arm).flatMap((c) => c.context.servers);
    const vs = uniq(servers.map(versionOf))
      .filter((v): v is string => v !== null)
      .sort();
    if (servers.length === 0 || servers.some((s) => versionOf(s) === null))
      out.push({
        severity: 'medium',
        code: 'server-version',
        message: `arm "${arm}": server version not recorded for every server; versions cannot be compared`,
      });
    versions.set(arm, vs.join(', '));
    flags.set(arm, new Set(servers.flatMap(flagsOf)));
  }
  const distinctVersions = uniq([...versions.values()].filter((v) => v !== ''));
  if (distinctVersions.length > 1)
    out.push({
      severity: 'high',
      code: 'server-version',
      message: `arms ran DIFFERENT server versions: ${[...versions].map(([a, v]) => `${a}: ${v || '?'}`).join('; ')}. Part of every difference may be the version, not the system.`,
    });
  const allFlags = uniq([...flags.values()].flatMap((s) => [...s]));
  const differing = allFlags.filter((f) => [...flags.values()].some((s) => !s.has(f)));
  if (arms.length > 1 && differing.length)
    out.push({
      severity: 'medium',
      code: 'server-flags',
      message: `server flags differ between arms: ${arms
        .map(
          (a) =>
            `${a}: ${[...flags.get(a)!].filter((f) => differing.includes(f)).join(' ') || '(none of them)'}`,
        )
        .join('; ')}. Check that only the system under test differs.`,
    });

  // task sets and seeds, failed tasks, per concurrency
  for (const conc of concurrencies) {
    const here = cells.filter((c) => (c.concurrency ?? 0) === conc);
    const sets = uniq(
      here.map((c) => JSON.stringify({ taskSet: c.context.taskSet, seed: c.context.seed, rep: c.rep })),
    );
    const perRep = new Map<string, Set<string>>();
    for (const c of here) {
      const key = String(c.rep);
      const set = perRep.get(key) ?? new Set<string>();
      set.add(JSON.stringify({ taskSet: c.context.taskSet, seed: c.context.seed }));
      perRep.set(key, set);
    }
    if (sets.length > 1 && [...perRep.values()].some((s) => s.size > 1))
      out.push({
        severity: 'high',
        code: 'task-set',
        message: `C=${conc}: cells ran different task sets or seeds: ${here
          .map(
            (c) =>
              `${cellLabel(c)}: ${c.context.taskSet?.name ?? '?'} (${c.context.taskSet?.count ?? '?'} tasks, seed ${c.context.seed ?? c.context.taskSet?.seed ?? '?'})`,
          )
          .join('; ')}`,
      });
    const sum = (k: 'tasksFailed' | 'tasksIncomplete') =>
      arms.map((a) => [a, here.filter((c) => c.arm === a).reduce((n, c) => n + c.counts[k], 0)] as const);
    const failed = sum('tasksFailed');
    if (uniq(failed.map(([, n]) => n)).length > 1)
      out.push({
        severity: 'high',
        code: 'failed-tasks',
        message: `C=${conc}: unequal failed-task counts: ${failed.map(([a, n]) => `${a} ${n}`).join(', ')}. ok tasks/min does not count failed tasks; all-ended tasks/min does: compare both.`,
      });
    const incomplete = sum('tasksIncomplete');
    if (uniq(incomplete.map(([, n]) => n)).length > 1)
      out.push({
        severity: 'high',
        code: 'incomplete-tasks',
        message: `C=${conc}: unequal incomplete-task counts (cut by Ctrl-C or the end of the cell, not failed by the server): ${incomplete.map(([a, n]) => `${a} ${n}`).join(', ')}. An arm with more incomplete tasks had less time to finish its work.`,
      });
    for (const arm of arms)
      if (!here.some((c) => c.arm === arm))
        out.push({ severity: 'high', code: 'missing-cell', message: `C=${conc}: arm "${arm}" has no cell` });
  }

  for (const c of cells) {
    if (c.partial)
      out.push({
        severity: 'high',
        code: 'interrupted',
        message: `cell ${cellLabel(c)} is partial/interrupted: ${c.partialReasons.join('; ')}`,
      });
    if (c.kv.status !== 'ok')
      out.push({
        severity: 'medium',
        code: 'no-kv-window',
        message: `cell ${cellLabel(c)}: no active window (${c.kv.status}); compare it on the client-side window or the makespan`,
      });
    for (const w of c.warnings) {
      if (CLIENT_BOTTLENECK.test(w))
        out.push({
          severity: 'high',
          code: 'client-bottleneck',
          message: `cell ${cellLabel(c)}: the client may have been the bottleneck: ${w}`,
        });
      if (/context-length error/.test(w))
        out.push({ severity: 'high', code: 'retried-context-length', message: `cell ${cellLabel(c)}: ${w}` });
      if (/orchestrator calls for those tasks/.test(w))
        out.push({ severity: 'medium', code: 'step-count-mismatch', message: `cell ${cellLabel(c)}: ${w}` });
    }
  }

  // program-identity fields
  for (const arm of arms) {
    const g = byArm(arm);
    const sent = uniq(g.flatMap((c) => c.context.programFields));
    if (sent.length === 0) continue;
    const ignored = uniq([
      ...g.flatMap((c) => c.context.extraFieldsIgnored),
      ...g.flatMap((c) =>
        c.context.servers.flatMap((s) => (Array.isArray(s.ignoresFields) ? s.ignoresFields : [])),
      ),
    ]).flatMap((f) => (f === '*' ? sent : sent.includes(f) ? [f] : []));
    const unlabelled = g.some((c) => c.context.extraFieldsIgnored.includes('*'));
    const notes = uniq(
      g
        .flatMap((c) => c.context.notes)
        .filter((n) => /ignor|never acted|not acted|inactive|not parsed|could not parse|unparsed/i.test(n)),
    );
    if (ignored.length || notes.length) {
      out.push({
        severity: 'high',
        code: 'field-ignored',
        message: `arm "${arm}": program-identity field(s) ${ignored.length ? ignored.join(', ') : sent.join(', ')} were sent but the server never acted on them${
          ignored.length
            ? unlabelled
              ? ' (it counted unknown extra fields; the sampled total does not say which)'
              : ' (it counted them as unknown extra fields)'
            : ''
        }${notes.length ? `; notes: ${notes.join(' | ')}` : ''}. If this arm's system is meant to use them, its feature was inactive.`,
      });
    } else if (!g.some((c) => c.context.servers.some((s) => Array.isArray(s.actsOnFields))))
      out.push({
        severity: 'info',
        code: 'field-unobservable',
        message: `arm "${arm}": sent ${sent.join(', ')}; whether its server acted on them is not observable from this run`,
      });
  }

  // program releases the server could not act on
  for (const arm of arms) {
    const g = byArm(arm);
    // release outcomes are data in the task records (release.sent); older runs: counted from notes
    const asked = g.filter(
      (c) =>
        c.context.release.url !== null || c.context.release.failures > 0 || (c.context.release.sent ?? 0) > 0,
    );
    if (asked.length === 0) continue;
    const url = asked.find((c) => c.context.release.url)?.context.release.url ?? '/programs/release';
    const attempts = asked.reduce((n, c) => n + (c.context.release.sent ?? c.counts.tasks), 0);
    const failures = asked.reduce((n, c) => n + c.context.release.failures, 0);
    const byStatus: Record<string, number> = {};
    for (const c of asked)
      for (const [k, n] of Object.entries(c.context.release.byStatus)) byStatus[k] = (byStatus[k] ?? 0) + n;
    const http404 = byStatus['HTTP 404'] ?? 0;
    if (http404 > 0 && http404 >= attempts)
      out.push({
        severity: 'high',
        code: 'release-unsupported',
        message: `arm "${arm}": the arm asked for release (POST ${url}); the server has no release endpoint: HTTP 404 on ${http404} of ${attempts} program releases. Whatever this arm's release was meant to change did not happen.`,
      });
    else if (failures > 0)
      out.push({
        severity: 'medium',
        code: 'release-failed',
        message: `arm "${arm}": ${failures} of ${attempts} program releases (POST ${url}) failed (${Object.entries(
          byStatus,
        )
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ')}): those programs were not released.`,
      });
  }

  // repetitions
  const reps = uniq(
    arms.flatMap((a) =>
      concurrencies.map((c) => cells.filter((x) => x.arm === a && (x.concurrency ?? 0) === c).length),
    ),
  );
  if (reps.some((n) => n === 1))
    out.push({
      severity: 'high',
      code: 'one-repetition',
      message:
        'one repetition in at least one cell: no confidence interval can be given and no difference can be called significant; live agents take different paths on different arms, so part of every difference is noise',
    });

  // windows disagreeing on the winner
  for (const conc of concurrencies) {
    const winners = new Map<string, string>();
    for (const r of rows)
      if (r.concurrency === conc && r.metric === 'okTasksPerMin' && r.winner) winners.set(r.window, r.winner);
    if (uniq([...winners.values()]).length > 1)
      out.push({
        severity: 'medium',
        code: 'window-disagreement',
        message: `C=${conc}: the winner on ok tasks/min depends on the window: ${[...winners].map(([w, a]) => `${w}: ${a}`).join(', ')}. The KV active window is biased (TTL pinning inflates KV usage, program pausing caps it).`,
      });
  }
  return out.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
}

const SEVERITY_RANK: Record<Severity, number> = { high: 0, medium: 1, info: 2 };

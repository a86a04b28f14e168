/**
 * W2 in virtual time beside the users' published table: runs examples/w2-sim-three-arms.yaml
 * (or --spec) through `servelab simulate` in-process and prints, per C and arm, the active-window
 * tasks/min (tau2 role transitions/s, what the published "steps/s" counted) beside the published
 * figure, then what the simulator says about why: orchestrator preemptions, prefix-cache hit
 * rate, router queue time per orchestrator call, router pauses, KV-TTL pins.
 *
 *   npm run bench -- w2-calibration                        # all 278 tasks, C = 32/64/128, 4 arms
 *   npm run bench -- w2-calibration --c 32 --count 96 --arms baseline
 *   npm run bench -- w2-calibration --set orchestratorOutputTokens.toolCall.median=150
 *
 * `--set path=json` patches the tau2-w1 profile in memory (only for fitting: every path must be
 * a parameter TAU2_W1_SOURCES marks "fitted"); the chosen values then go into
 * src/agent/profiles/tau2-w1.ts.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TAU2_W1, TAU2_W1_SOURCES } from '../src/agent/profiles/tau2-w1.js';
import { executeSpec } from '../src/cli/commands/run.js';
import { loadSpecFile } from '../src/config/index.js';

/** The users' table (WORKFLOWS.md W2): active window, tasks/min (steps/s = role transitions/s). */
export const PUBLISHED: Record<string, Record<number, [number, number]>> = {
  baseline: { 32: [3.36, 2.95], 64: [3.52, 2.82], 128: [3.51, 2.83] },
  router: { 32: [3.77, 2.97], 64: [4.13, 3.37], 128: [3.24, 2.52] },
  'kv-ttl': { 32: [3.55, 2.83], 64: [2.5, 1.89], 128: [2.41, 1.97] },
  // the users' KV-TTL runs very likely pinned nothing (the fork's parser before 2026-01-13)
  'kv-ttl-bash-only': { 32: [3.55, 2.83], 64: [2.5, 1.89], 128: [2.41, 1.97] },
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function args(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === `--${name}` && process.argv[i + 1]) out.push(process.argv[i + 1]!);
  });
  return out;
}

function patchProfile(path: string, value: unknown): void {
  const keys = path.split('.');
  // a per-domain field is named by its field alone (it applies to every domain)
  const field = keys[0]!;
  const source = TAU2_W1_SOURCES[field] ?? '';
  if (!source.includes('fitted'))
    throw new Error(
      `--set ${path}: "${field}" is not a fitted parameter of tau2-w1 (its source: ${source || 'none'})`,
    );
  const targets: Record<string, unknown>[] =
    field in TAU2_W1
      ? [TAU2_W1 as unknown as Record<string, unknown>]
      : (Object.values(TAU2_W1.domains) as unknown as Record<string, unknown>[]);
  for (const t of targets) {
    let o = t;
    for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
    o[keys.at(-1)!] = value;
  }
}

interface Row {
  arm: string;
  c: number;
  rep: number;
  tasksPerMin: number;
  transitionsPerS: number;
  stepsPerS: number;
  preemptions: number;
  hitRate: number;
  routerQueueSPerStep: number;
  pauses: number;
  pins: number;
  failed: number;
  simS: number;
}

export async function runCalibration(o: {
  spec: string;
  arms?: string[];
  concurrency?: number[];
  count?: number;
  reps?: number;
  seed?: number;
  quiet?: boolean;
}): Promise<{ rows: Row[]; wallS: number; runDir: string }> {
  const loaded = loadSpecFile(resolve(o.spec));
  const s = loaded.spec as unknown as {
    arms: { name: string }[];
    concurrency: number[];
    repetitions: number;
    seed: number;
    workload: { generator?: { count?: number } };
  };
  if (o.arms) s.arms = s.arms.filter((a) => o.arms!.includes(a.name));
  if (o.concurrency) s.concurrency = o.concurrency;
  if (o.reps) s.repetitions = o.reps;
  if (o.seed !== undefined) s.seed = o.seed;
  if (o.count && s.workload.generator) s.workload.generator.count = o.count;
  const cwd = mkdtempSync(join(tmpdir(), 'servelab-w2-'));
  const t0 = performance.now();
  const { result } = await executeSpec(
    {
      stdout: () => {},
      stderr: (t) => {
        if (!o.quiet && !/tasks \d+\/\d+/.test(t)) process.stderr.write(t);
      },
      isTTY: false,
      env: process.env,
      cwd,
      signal: new AbortController().signal,
    },
    loaded,
    { virtual: true },
  );
  const wallS = (performance.now() - t0) / 1000;
  const rows: Row[] = [];
  for (const c of result.cells) {
    const dir = join(result.runDir, c.arm, `c${c.concurrency}`, `r${c.rep}`);
    const sum = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const cell = JSON.parse(readFileSync(join(dir, 'cell.json'), 'utf8'));
    const active = (sum.windows as Record<string, number & string>[]).find((w) => w.kind === 'active');
    const orch = (cell.simulation?.counters ?? []).filter((x: { label: string }) =>
      (cell.simulation?.engines ?? []).some(
        (e: { label: string; persona: string }) => e.label === x.label && e.persona === 'orchestrator',
      ),
    );
    const add = (k: string) => orch.reduce((a: number, x: Record<string, number>) => a + (x[k] ?? 0), 0);
    const pins = orch.reduce(
      (a: number, x: { policy?: { pinsCreated?: number } }) => a + (x.policy?.pinsCreated ?? 0),
      0,
    );
    rows.push({
      arm: c.arm,
      c: c.concurrency,
      rep: c.rep,
      tasksPerMin: Number(active?.okTasksPerMin ?? Number.NaN),
      transitionsPerS: Number(active?.roleTransitionsPerS ?? Number.NaN),
      stepsPerS: Number(active?.okStepsPerS ?? Number.NaN),
      preemptions: add('preemptions'),
      hitRate: add('prefixHitTokens') / Math.max(1, add('prefixQueryTokens')),
      routerQueueSPerStep: sum.time?.orchestratorRouterQueue?.perStepS ?? 0,
      pauses: cell.simulation?.router?.pausesTotal ?? 0,
      pins,
      failed: c.counts?.tasks.failed ?? 0,
      simS: c.counts?.makespanS ?? 0,
    });
  }
  return { rows, wallS, runDir: result.runDir };
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

export function calibrationTable(rows: readonly Row[]): string {
  const key = (r: Row) => `${r.arm}\u0000${r.c}`;
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  const lines = [
    '| C | arm | simulated tasks/min (transitions/s) | published | sim / published | orch. steps/s | preemptions | prefix hit | router queue s/step | pauses | pins | failed |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cs = [...new Set(rows.map((r) => r.c))].sort((a, b) => a - b);
  for (const c of cs)
    for (const [k, g] of groups) {
      if (g[0]!.c !== c) continue;
      const arm = k.split('\u0000')[0]!;
      const tpm = mean(g.map((r) => r.tasksPerMin));
      const sd =
        g.length > 1
          ? Math.sqrt(g.reduce((a, r) => a + (r.tasksPerMin - tpm) ** 2, 0) / (g.length - 1))
          : Number.NaN;
      const pub = PUBLISHED[arm]?.[c];
      lines.push(
        `| ${c} | ${arm} | ${f2(tpm)}${g.length > 1 ? ` ± ${f2(sd)}` : ''} (${f2(mean(g.map((r) => r.transitionsPerS)))}) | ${pub ? `${pub[0]} (${pub[1]})` : '-'} | ${pub ? f2(tpm / pub[0]) : '-'} | ${f2(mean(g.map((r) => r.stepsPerS)))} | ${Math.round(mean(g.map((r) => r.preemptions)))} | ${(100 * mean(g.map((r) => r.hitRate))).toFixed(0)} % | ${f2(mean(g.map((r) => r.routerQueueSPerStep)))} | ${Math.round(mean(g.map((r) => r.pauses)))} | ${Math.round(mean(g.map((r) => r.pins)))} | ${Math.round(mean(g.map((r) => r.failed)))} |`,
      );
    }
  return lines.join('\n');
}

const isMain = process.argv[1] && /w2-calibration\.(js|ts)$/.test(process.argv[1]);
if (isMain) {
  for (const s of args('set')) {
    const eq = s.indexOf('=');
    patchProfile(s.slice(0, eq), JSON.parse(s.slice(eq + 1)));
  }
  const spec = arg('spec') ?? 'examples/w2-sim-three-arms.yaml';
  const { rows, wallS, runDir } = await runCalibration({
    spec,
    ...(arg('arms') ? { arms: arg('arms')!.split(',') } : {}),
    ...(arg('c') ? { concurrency: arg('c')!.split(',').map(Number) } : {}),
    ...(arg('count') ? { count: Number(arg('count')) } : {}),
    ...(arg('reps') ? { reps: Number(arg('reps')) } : {}),
    ...(arg('seed') ? { seed: Number(arg('seed')) } : {}),
    quiet: process.argv.includes('--quiet'),
  });
  const simS = rows.reduce((a, r) => a + r.simS, 0);
  process.stdout.write(`${calibrationTable(rows)}\n\n`);
  process.stdout.write(
    `${rows.length} cells, ${simS.toFixed(0)} simulated s in ${wallS.toFixed(1)} wall s (${(simS / wallS).toFixed(0)}x real time), node ${process.version}; run directory ${runDir}\n`,
  );
}

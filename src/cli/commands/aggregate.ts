import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { AGGREGATE_DEFINITIONS, compareParam, paretoFrontier } from '../../analysis/aggregate.js';
import { paretoOption } from '../../analysis/options.js';
import type { BenchRunInput } from '../../analysis/run-types.js';
import { ServelabError } from '../../errors.js';
import { type AnalysedRuns, analyseRuns, DEFAULT_PARETO, reportData } from '../../report/build.js';
import { renderHtmlReport } from '../../report/html.js';
import { toCsv, toTerminal } from '../../report/table.js';
import { aggregateSummaryTable, aggregateTable, paramTable, paretoTable } from '../../report/tables.js';
import { loadRuns } from '../../report/write.js';
import type { CliIO } from '../io.js';
import type { CommandContext } from './index.js';

/** The deepest directory that holds every run dir (their shared parent: runs/ for runs/bench-*). */
export function commonParent(dirs: readonly string[]): string {
  const parts = dirs.map((d) => dirname(d).split(sep));
  const first = parts[0] ?? [];
  let n = 0;
  while (n < first.length && parts.every((p) => p[n] === first[n])) n++;
  return first.slice(0, n).join(sep) || sep;
}

export function registerAggregate(program: Command, ctx: CommandContext): void {
  program
    .command('aggregate')
    .description(
      'aggregate many bench runs (W3 sweeps): experiment_results.csv, a text report, viz_data.json, a parameter comparison, the Pareto frontier',
    )
    .argument('<run-dirs...>', 'bench run directories')
    .option(
      '--out <dir>',
      'where to write experiment_results.csv, report.txt, viz_data.json (default: beside the runs, in their common parent directory)',
    )
    .option('--compare-param <name>', 'a config parameter to compare (e.g. max_num_batched_tokens)')
    .option('--metric <m>', 'the metric for --compare-param', 'output_throughput_tok_s')
    .option(
      '--pareto <x:dir,y:dir>',
      'the two metrics of the Pareto frontier',
      'output_throughput_tok_s:max,ttft_p95_ms:min',
    )
    .action(
      async (dirs: string[], o: { out?: string; compareParam?: string; metric: string; pareto?: string }) => {
        const runDirs = dirs.map((d) => resolve(ctx.io.cwd, d));
        const runs = await loadRuns(runDirs);
        const bench = runs.filter((r) => r.kind === 'bench');
        if (bench.length === 0)
          throw new ServelabError('BAD_FILE', 'no bench run among the directories', {
            hint: 'aggregate reads `servelab bench` run directories',
          });
        if (bench.length < runs.length)
          ctx.io.stderr(`aggregate: ${runs.length - bench.length} agent run(s) ignored (use compare)\n`);
        const outDir = o.out !== undefined ? resolve(ctx.io.cwd, o.out) : commonParent(runDirs);
        await writeAggregate(ctx.io, bench, outDir, o);
      },
    );
}

export interface AggregateFlags {
  compareParam?: string;
  metric: string;
  pareto?: string;
  /** also the self-contained HTML report (Pareto and parameter charts) as report.html */
  html?: { title: string };
}

/**
 * The aggregator (W3's results step) over loaded bench runs: experiment_results.csv with a
 * column per parameter, report.txt, viz_data.json, the parameter comparison and the Pareto
 * frontier, in outDir; `servelab aggregate` and `servelab sweep` both call it.
 */
export async function writeAggregate(
  io: CliIO,
  bench: BenchRunInput[],
  outDir: string,
  o: AggregateFlags,
): Promise<AnalysedRuns> {
  const [x, y] = paretoOption(o.pareto) ?? DEFAULT_PARETO;
  const a = analyseRuns(bench, {
    pareto: [x, y],
    ...(o.compareParam ? { compareParam: { name: o.compareParam, metric: o.metric } } : {}),
  });
  const rows = a.aggregate!.rows;
  const pareto = paretoFrontier(rows, x, y);
  const param = o.compareParam ? compareParam(rows, o.compareParam, o.metric) : null;
  if (param && param.groups.length === 0)
    io.stderr(
      `aggregate: no run has the parameter "${o.compareParam}" (known: ${[...new Set(rows.flatMap((r) => Object.keys(r.params)))].join(', ')})\n`,
    );
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'experiment_results.csv'), toCsv(aggregateTable(rows, pareto)));
  const text: string[] = [`servelab aggregate: ${rows.length} row(s) from ${bench.length} bench run(s)`, ''];
  const partial = rows.filter((r) => r.partial);
  if (partial.length)
    text.push(
      `!!! ${partial.length} row(s) come from PARTIAL runs: ${partial.map((r) => r.run).join(', ')}`,
      '',
    );
  for (const b of a.bench) for (const w of b.warnings) text.push(`warning: ${b.name}: ${w}`);
  // engine: sim cells (servelab sweep): the vLLM settings the simulator accepted without modelling
  const notModelled = new Map<string, string[]>();
  for (const b of bench) {
    const nm = (b.run as { notModelled?: unknown }).notModelled;
    if (Array.isArray(nm))
      for (const f of nm)
        notModelled.set(String(f), [...(notModelled.get(String(f)) ?? []), String(b.run.name ?? b.dir)]);
  }
  if (notModelled.size)
    text.push(
      'not modelled by the simulator (accepted, recorded, no effect on these figures):',
      ...[...notModelled].map(([f, runs]) => `  ${f}: ${runs.length} run(s)`),
      '',
    );
  const byThroughput = [...rows].sort(
    (p, q) => (q.metrics.output_throughput_tok_s ?? 0) - (p.metrics.output_throughput_tok_s ?? 0),
  );
  text.push(
    '',
    'runs by output throughput (the parameters that vary):',
    toTerminal(aggregateSummaryTable(byThroughput)),
    '',
  );
  text.push(
    `Pareto-optimal runs (${x.metric} ${x.direction}, ${y.metric} ${y.direction}):`,
    toTerminal(paretoTable(rows, pareto)),
    '',
  );
  if (pareto.skipped)
    text.push(`(${pareto.skipped} row(s) without both metrics left out of the frontier)`, '');
  if (param)
    text.push(
      `${param.param} against ${param.metric} (${param.direction} is better):`,
      toTerminal(paramTable(param)),
      '',
    );
  text.push('definitions:', ...Object.entries(AGGREGATE_DEFINITIONS).map(([k, v]) => `  ${k}: ${v}`));
  const report = `${text.join('\n')}\n`;
  await writeFile(join(outDir, 'report.txt'), report);
  await writeFile(
    join(outDir, 'viz_data.json'),
    `${JSON.stringify({ v: 1, rows, pareto: { ...pareto, runs: pareto.frontier.map((i) => rows[i]!.run) }, compareParam: param, definitions: AGGREGATE_DEFINITIONS }, null, 2)}\n`,
  );
  io.stdout(report);
  io.stdout(`wrote ${join(outDir, 'experiment_results.csv')}, report.txt, viz_data.json\n`);
  if (o.html) {
    const data = reportData(a, {
      title: o.html.title,
      generatedAt: new Date().toISOString(),
      sources: bench.map((b) => b.dir),
    });
    await writeFile(join(outDir, 'report.html'), await renderHtmlReport(data));
    io.stdout(`wrote ${join(outDir, 'report.html')}\n`);
  }
  return a;
}

/**
 * Scale benchmark of analysis + reports: a synthetic agent run with >= 1,000,000 step records
 * (9 cells: 3 arms x C 32/64/128, one repetition) -> `writeRunReport` (every cell's
 * summary.json, summary.csv, compare.md, report.html with all charts).
 *
 *   npx tsx bench/analysis-scale.ts [--dir /tmp/servelab-analysis-scale] [--regen]
 *
 * The run dir is generated once (cached), then the measurement runs in a fresh child process
 * so its peak RSS is the analysis's own. Targets: < 5 s and < 1 GB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeSyntheticRun } from '../src/analysis/testing/synthetic-run.js';
import { writeRunReport } from '../src/report/write.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = flag('--dir') ?? '/tmp/servelab-analysis-scale';

if (args.includes('--measure')) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const r = await writeRunReport(dir);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0); // all threads of the process, workers included
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  const htmlBytes = r.reportPath ? readFileSync(r.reportPath).length : 0;
  process.stdout.write(
    `${JSON.stringify({ wallS, cpuS, peakRssMiB: rssMiB, cells: r.summaryPaths.length, htmlBytes, errors: r.errors })}\n`,
  );
} else {
  if (args.includes('--regen')) rmSync(dir, { recursive: true, force: true });
  if (!existsSync(`${dir}/run.json`)) {
    const t0 = performance.now();
    const cells = [];
    for (const [arm, kv] of [
      ['baseline', 0.85],
      ['router', 0.8],
      ['kv-ttl', 0.97],
    ] as const)
      for (const concurrency of [32, 64, 128])
        cells.push({ arm, concurrency, rep: 1, tasks: 4100, stepsPerTask: 20, kvPlateau: kv, failEvery: 50 });
    const { steps } = await writeSyntheticRun(dir, cells);
    process.stdout.write(
      `generated ${steps} step records in ${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
  }
  let records = 0;
  for (const line of spawnSync('sh', ['-c', `cat ${dir}/*/c*/r*/steps.jsonl | wc -l`], {
    encoding: 'utf8',
  }).stdout.split('\n'))
    if (line.trim()) records = Number(line.trim());
  const bytes = Number(
    spawnSync('sh', ['-c', `cat ${dir}/*/c*/r*/steps.jsonl | wc -c`], { encoding: 'utf8' }).stdout.trim(),
  );
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--measure', '--dir', dir],
    {
      encoding: 'utf8',
    },
  );
  if (child.status !== 0) {
    process.stderr.write(child.stderr);
    process.exit(1);
  }
  const m = JSON.parse(child.stdout.trim().split('\n').pop()!);
  process.stdout.write(
    `step records: ${records} (${(bytes / 2 ** 20).toFixed(0)} MiB of JSONL), cells: ${m.cells}\n` +
      `analysis + report (writeRunReport): ${m.wallS.toFixed(2)} s wall, ${m.cpuS.toFixed(2)} s CPU (all threads), peak RSS ${m.peakRssMiB.toFixed(0)} MiB, report.html ${(m.htmlBytes / 1024).toFixed(0)} KiB\n` +
      `targets: < 5 s ${m.wallS < 5 ? 'MET' : 'MISSED'}, < 1024 MiB ${m.peakRssMiB < 1024 ? 'MET' : 'MISSED'}\n` +
      `machine: ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)} at the end\n` +
      (m.errors.length ? `errors: ${m.errors.join('; ')}\n` : ''),
  );
}

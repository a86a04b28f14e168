import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { analyzeOptions, KV_ENGINE_HELP, paretoOption } from '../../analysis/options.js';
import { analyseRuns, reportData } from '../../report/build.js';
import { renderHtmlReport } from '../../report/html.js';
import { renderMarkdownReport } from '../../report/markdown.js';
import { loadRuns } from '../../report/write.js';
import type { CommandContext } from './index.js';

export function registerReport(program: Command, ctx: CommandContext): void {
  program
    .command('report')
    .description(
      'one self-contained HTML report (charts as inline SVG, no network) over agent and/or bench run dirs; --md-dir for Markdown + SVG files',
    )
    .argument('<run-dirs...>', 'run directories (agent and bench)')
    .option('--out <file>', 'the HTML file', 'report.html')
    .option('--md-dir <dir>', 'also write report.md and one SVG per chart into this directory')
    .option('--title <text>', 'report title', 'servelab report')
    .option('--baseline <arm>', 'baseline arm of the comparison')
    .option('--threshold <frac>', 'KV-usage threshold of the active window (0-1)', '0.7')
    .option('--port <n>', 'port whose KV usage defines the active window')
    .option('--kv-engine <max|combined|n>', KV_ENGINE_HELP, 'max')
    .option('--window <a..b>', 'an extra fixed window, e.g. 600s..7800s')
    .option(
      '--pareto <x:dir,y:dir>',
      'Pareto metrics for bench runs',
      'output_throughput_tok_s:max,ttft_p95_ms:min',
    )
    .action(async (dirs: string[], o: Record<string, string | undefined>) => {
      const opts = analyzeOptions(o);
      const abs = dirs.map((d) => resolve(ctx.io.cwd, d));
      const runs = await loadRuns(abs);
      const pareto = paretoOption(o.pareto);
      const a = analyseRuns(runs, {
        ...opts,
        ...(o.baseline ? { baseline: o.baseline } : {}),
        ...(pareto ? { pareto } : {}),
      });
      const data = reportData(a, {
        title: o.title ?? 'servelab report',
        generatedAt: new Date().toISOString(),
        sources: abs,
      });
      const out = resolve(ctx.io.cwd, o.out ?? 'report.html');
      await writeFile(out, await renderHtmlReport(data));
      ctx.io.stdout(`wrote ${out}\n`);
      if (o.mdDir) {
        const md = resolve(ctx.io.cwd, o.mdDir);
        await mkdir(md, { recursive: true });
        const r = await renderMarkdownReport(data);
        await writeFile(join(md, 'report.md'), r.markdown);
        for (const s of r.svgs) await writeFile(join(md, s.file), s.svg);
        ctx.io.stdout(`wrote ${join(md, 'report.md')} and ${r.svgs.length} SVG file(s)\n`);
      }
      const high = data.comparison?.confounds.filter((c) => c.severity === 'high').length ?? 0;
      if (high) ctx.io.stdout(`!!! ${high} high-severity confound warning(s) at the top of the report\n`);
    });
}

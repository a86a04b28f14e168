import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { analyzeOptions, KV_ENGINE_HELP } from '../../analysis/options.js';
import { describeSetup } from '../../analysis/setup.js';
import { ServelabError } from '../../errors.js';
import { analyseRuns } from '../../report/build.js';
import { setupLine } from '../../report/sections.js';
import { toCsv, toTerminal } from '../../report/table.js';
import { comparisonLongTable, usersTable } from '../../report/tables.js';
import { comparisonMarkdown, loadRuns } from '../../report/write.js';
import type { CommandContext } from './index.js';

export function registerCompare(program: Command, ctx: CommandContext): void {
  program
    .command('compare')
    .description(
      'compare arms x concurrency across agent run dirs: ok tasks/min and steps/s per window (all-ended beside them), 95 % CIs, Welch tests, confound warnings',
    )
    .argument(
      '<run-dirs...>',
      'agent run directories (cells of one arm with the same server versions and flags are pooled: repetitions become confidence intervals; an arm name whose runs ran different servers becomes one arm per run dir)',
    )
    .option('--baseline <arm>', 'the arm ratios are taken against (default: "baseline", else the first arm)')
    .option('--threshold <frac>', 'KV-usage threshold of the active window (0-1)', '0.7')
    .option('--port <n>', 'port whose KV usage defines the active window')
    .option('--kv-engine <max|combined|n>', KV_ENGINE_HELP, 'max')
    .option('--window <a..b>', 'an extra fixed window, e.g. 600s..7800s')
    .option('--md <file>', 'write the comparison as Markdown')
    .option('--csv <file>', 'write the comparison as CSV (one line per concurrency x window x metric x arm)')
    .option('--json', 'print the comparison as JSON')
    .action(async (dirs: string[], o: Record<string, string | boolean | undefined>) => {
      const opts = analyzeOptions(
        o as { threshold?: string; port?: string; window?: string; kvEngine?: string },
      );
      const runs = await loadRuns(dirs.map((d) => resolve(ctx.io.cwd, d)));
      if (typeof o.baseline === 'string') {
        const arms = [
          ...new Set(
            runs.flatMap((r) =>
              r.kind === 'agent' ? r.cells.map((c) => c.meta.arm ?? c.id.split('/')[0] ?? '') : [],
            ),
          ),
        ].filter(Boolean);
        if (!arms.includes(o.baseline))
          throw new ServelabError('BAD_FLAG', `--baseline ${o.baseline}: no such arm in ${dirs.join(' ')}`, {
            hint: `the arms are: ${arms.join(', ') || '(none: these are not agent runs)'}`,
          });
      }
      const a = analyseRuns(runs, {
        ...opts,
        ...(typeof o.baseline === 'string' ? { baseline: o.baseline } : {}),
      });
      const cmp = a.comparison;
      if (!cmp)
        throw new ServelabError('BAD_FILE', 'no agent cells to compare', {
          hint: 'compare takes `servelab run` directories; use `aggregate` for bench runs',
        });
      if (typeof o.md === 'string') await writeFile(resolve(ctx.io.cwd, o.md), comparisonMarkdown(a));
      if (typeof o.csv === 'string')
        await writeFile(resolve(ctx.io.cwd, o.csv), toCsv(comparisonLongTable(cmp)));
      if (o.json) {
        ctx.io.stdout(`${JSON.stringify(cmp, null, 2)}\n`);
        return;
      }
      if (cmp.confounds.length) {
        ctx.io.stdout(`!!! ${cmp.confounds.length} confound warning(s): read before trusting any number\n`);
        for (const c of cmp.confounds)
          ctx.io.stdout(`  [${c.severity.toUpperCase()}] ${c.code}: ${c.message}\n`);
        ctx.io.stdout('\n');
      }
      const setup = describeSetup(a.cells.map((c) => c.summary));
      if (setup.length) ctx.io.stdout(`what was run: ${setupLine(setup)}\n\n`);
      for (const w of cmp.windows)
        ctx.io.stdout(
          `${w} window, ok tasks/min (ok steps/s) and all-ended tasks/min, baseline ${cmp.baseline}:\n${toTerminal(usersTable(cmp, w))}\n\n`,
        );
      ctx.io.stdout(
        'steps = orchestrator LLM calls only; tasks and steps count when they END inside the window; ' +
          '"ok" counts tasks and calls with status ok, "all ended" every one whatever its status.\n',
      );
      if (typeof o.md === 'string') ctx.io.stdout(`wrote ${o.md}\n`);
      if (typeof o.csv === 'string') ctx.io.stdout(`wrote ${o.csv}\n`);
    });
}

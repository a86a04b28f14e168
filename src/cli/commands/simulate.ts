/**
 * `servelab simulate spec.yaml`: the spec's whole experiment in virtual time. The same plan,
 * agent driver, records, KV sampling, analysis and report as `servelab run`, with every server a
 * simulated engine in-process on one virtual clock (launch/sim-virtual.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkSpecFiles, loadSpecFile } from '../../config/index.js';
import type { CommandContext } from './index.js';
import { dryRun, executeSpec } from './run.js';

export function registerSimulate(program: Command, ctx: CommandContext): void {
  program
    .command('simulate')
    .description(
      'run an experiment spec in virtual time: every server a simulated engine in-process on one clock (tool latencies, think times, back-off and samples are virtual); an arm with command or external servers needs `simulateAs`',
    )
    .argument('<spec>', 'the spec file (YAML), e.g. examples/agentic-quickstart.yaml')
    .option('--resume <runDir>', 'continue the matrix of this run directory at the first cell not complete')
    .option(
      '--replay <trace>',
      'replay this trace (a steps.jsonl or a mooncake-style JSONL) instead of the spec workload',
    )
    .option('--dry-run', 'validate the spec, print every cell of the plan, run nothing')
    .action(async (file: string, flags: { resume?: string; replay?: string; dryRun?: boolean }) => {
      const loaded = loadSpecFile(resolve(ctx.io.cwd, file));
      checkSpecFiles(loaded, flags.replay ? { replay: resolve(ctx.io.cwd, flags.replay) } : {});
      if (flags.dryRun) {
        dryRun(ctx, loaded, 'virtual');
        return;
      }
      const { code } = await executeSpec(ctx.io, loaded, {
        ...(flags.resume ? { resume: resolve(ctx.io.cwd, flags.resume) } : {}),
        ...(flags.replay ? { replay: resolve(ctx.io.cwd, flags.replay) } : {}),
        virtual: true,
      });
      ctx.setExit(code);
    });
}

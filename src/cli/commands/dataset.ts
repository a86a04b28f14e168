import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, ServelabError } from '../../errors.js';
import { boundedWorkload, parseNumberFlag } from '../../loadgen/bench-flags.js';
import type { WorkloadItem } from '../../workload/item.js';
import { buildWorkload, type DatasetName } from '../../workload/source.js';
import { datasetStats, formatDatasetStats } from '../../workload/stats.js';
import type { CommandContext } from './index.js';

interface DatasetFlags {
  datasetName?: string;
  datasetPath?: string;
  suite?: string;
  numPrompts?: string;
  randomInputLen: string;
  randomOutputLen: string;
  randomRangeRatio: string;
  inputDist?: string;
  outputDist?: string;
  prefixGroups: string;
  promptsPerGroup?: string;
  prefixLen: string;
  sharegptOutputLen?: string;
  seed: string;
  out?: string;
  showStats?: boolean;
}

/** An integer flag in [min, the bench flag's bound] (the flags are bench's: BENCH_FLAG_MAX). */
const int = (v: string | undefined, flag: string, min: number) =>
  parseNumberFlag(v, flag, { int: true, min });

/** One JSONL line in the format `bench --dataset-name jsonl` reads back. */
export function itemLine(it: WorkloadItem): string {
  return JSON.stringify({
    ...(it.messages ? { messages: it.messages } : { prompt: it.prompt }),
    prompt_tokens: it.promptTokens,
    output_tokens: it.outputTokens,
    ...(it.class ? { class: it.class } : {}),
    ...(it.group !== undefined ? { group: it.group } : {}),
  });
}

export function registerDataset(program: Command, ctx: CommandContext): void {
  program
    .command('dataset')
    .description(
      'generate or convert a workload to JSONL (seeded, reproducible); --show-stats prints its lengths',
    )
    .option('--dataset-name <name>', 'random | sharegpt | jsonl | prefix')
    .option('--dataset-path <file>', 'ShareGPT JSON/JSONL or a JSONL of prompts / messages to convert')
    .option(
      '--suite <name>',
      'W3 suite: quick_test | medium_balanced | large_throughput | short_latency | long_context',
    )
    .option('--num-prompts <n>', 'number of prompts')
    .option('--random-input-len <n>', 'input tokens', '1024')
    .option('--random-output-len <n>', 'output tokens', '128')
    .option('--random-range-ratio <r>', 'lengths uniform in [len*(1-r), len*(1+r)]', '0')
    .option('--input-dist <dist>', 'fixed:N uniform:A-B normal:M,S lognormal:M,SIGMA')
    .option('--output-dist <dist>', 'output length distribution (same forms)')
    .option('--prefix-groups <n>', 'prefix dataset: groups', '10')
    .option('--prompts-per-group <n>', 'prefix dataset: prompts per group')
    .option('--prefix-len <n>', 'prefix dataset: shared prefix tokens', '1024')
    .option('--sharegpt-output-len <n>', 'force the output length of ShareGPT items')
    .option('--seed <n>', 'seed', '0')
    .option('-o, --out <file>', 'output JSONL (default: stdout)')
    .option(
      '--show-stats',
      'print prompt / output length statistics (to stderr when writing JSONL to stdout)',
    )
    .action((f: DatasetFlags) => {
      const io = ctx.io;
      const n = f.numPrompts !== undefined ? int(f.numPrompts, '--num-prompts', 1) : undefined;
      const ratio = Number(f.randomRangeRatio);
      if (!Number.isFinite(ratio))
        throw new ServelabError('BAD_FLAG', `--random-range-ratio "${f.randomRangeRatio}" is not a number`);
      const w = buildWorkload(
        boundedWorkload({
          seed: int(f.seed, '--seed', 0)!,
          ...(f.datasetName ? { datasetName: f.datasetName as DatasetName } : {}),
          ...(f.datasetPath ? { datasetPath: resolve(io.cwd, f.datasetPath) } : {}),
          ...(f.suite ? { suite: f.suite } : {}),
          ...(n !== undefined ? { count: n } : {}),
          randomInputLen: int(f.randomInputLen, '--random-input-len', 1)!,
          randomOutputLen: int(f.randomOutputLen, '--random-output-len', 1)!,
          randomRangeRatio: ratio,
          ...(f.inputDist ? { inputDist: f.inputDist } : {}),
          ...(f.outputDist ? { outputDist: f.outputDist } : {}),
          prefixGroups: int(f.prefixGroups, '--prefix-groups', 1)!,
          ...(f.promptsPerGroup
            ? { promptsPerGroup: int(f.promptsPerGroup, '--prompts-per-group', 1)! }
            : {}),
          prefixLen: int(f.prefixLen, '--prefix-len', 1)!,
          ...(f.sharegptOutputLen
            ? { sharegptOutputLen: int(f.sharegptOutputLen, '--sharegpt-output-len', 1)! }
            : {}),
        }),
      );
      const text = w.items.map(itemLine).join('\n') + (w.items.length ? '\n' : '');
      const stats = f.showStats ? `${w.description}\n${formatDatasetStats(datasetStats(w.items))}` : '';
      if (f.out) {
        const path = resolve(io.cwd, f.out);
        writeFileSync(path, text);
        io.stderr(`wrote ${w.items.length} prompts to ${path}\n`);
        if (stats) io.stdout(stats);
      } else {
        io.stdout(text);
        if (stats) io.stderr(stats);
      }
      ctx.setExit(EXIT.ok);
    });
}

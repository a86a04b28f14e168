import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadModelConfigFile, specSchema } from '../../config/index.js';
import { ServelabError } from '../../errors.js';
import { shellCommand } from '../../shell-quote.js';
import type { CommandContext } from './index.js';
import { executeSpec } from './run.js';

interface AgentFlags {
  modelConfig: string;
  orchestrator?: string;
  concurrency: string;
  tasks?: string;
  scale?: string;
  domains?: string;
  seed: string;
  replay?: string;
  stream: boolean;
  programFields?: string;
  release?: boolean;
  maxSteps: string;
  historyTrim?: string;
  out: string;
  name: string;
  timeScale: string;
}

function num(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ServelabError('BAD_FLAG', `${flag} expects a number, got "${v}"`);
  return n;
}

export function registerAgent(program: Command, ctx: CommandContext): void {
  program
    .command('agent')
    .description(
      "one agentic run against running endpoints given by the users' model-config JSON (no spec file)",
    )
    .requiredOption(
      '--model-config <file>',
      'the users\' model-config JSON file: {"<model>": [{"ip_addr": "127.0.0.1", "port": "1900"}], "oss_expert_mapping": {...}}',
    )
    .option('--orchestrator <model>', 'the orchestrator model name (default: the first model in the file)')
    .option('-c, --concurrency <list>', 'slots, comma-separated for several runs', '32')
    .option('--tasks <n>', 'number of generated tasks to run')
    .option('--scale <f>', 'fraction of the tau2-like task set (retail 114, telecom 114, airline 50)')
    .option('--domains <list>', 'comma-separated domains')
    .option('--seed <n>', 'seed of the task set and pool choice', '0')
    .option('--replay <trace>', 'replay a steps.jsonl or mooncake-style trace instead of live tasks')
    .option('--no-stream', 'non-streamed calls (no first-token time)')
    .option(
      '--program-fields <list>',
      'program fields to send (default all: program_id,job_id,is_last_step,this_func_call,last_func_call; "none" for none)',
    )
    .option('--release', 'POST /programs/release at program end on the orchestrator origin')
    .option('--max-steps <n>', 'max orchestrator calls per task', '200')
    .option('--history-trim <tokens>', 'middle-trim the history to about this many tokens')
    .option(
      '--time-scale <f>',
      'multiply tool latencies and scripted user think times (0.1 = 10x shorter)',
      '1',
    )
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--name <name>', 'run name', 'agent')
    .action(async (flags: AgentFlags) => {
      const cfgPath = resolve(ctx.io.cwd, flags.modelConfig);
      const cfg = loadModelConfigFile(cfgPath);
      const orchestrator = flags.orchestrator ?? Object.keys(cfg.models)[0];
      if (!orchestrator) throw new ServelabError('BAD_CONFIG', `${flags.modelConfig} lists no model`);
      const fields =
        flags.programFields === 'none'
          ? []
          : flags.programFields
            ? flags.programFields.split(',').map((s) => s.trim())
            : undefined;
      const raw = {
        name: flags.name,
        seed: num('--seed', flags.seed),
        servers: { endpoints: { kind: 'external', endpoints: cfgPath } },
        arms: [
          {
            name: 'agent',
            servers: 'endpoints',
            ...(fields ? { programFields: fields } : {}),
            release: Boolean(flags.release),
          },
        ],
        workload: flags.replay
          ? { replay: resolve(ctx.io.cwd, flags.replay) }
          : {
              generator: {
                ...(flags.tasks ? { count: num('--tasks', flags.tasks) } : {}),
                ...(flags.scale ? { scale: num('--scale', flags.scale) } : {}),
                ...(flags.domains ? { domains: flags.domains.split(',') } : {}),
              },
            },
        agent: {
          orchestrator,
          stream: flags.stream,
          timeScale: num('--time-scale', flags.timeScale),
          ...(flags.historyTrim ? { historyTrimTokens: num('--history-trim', flags.historyTrim) } : {}),
        },
        concurrency: flags.concurrency.split(',').map((c) => num('--concurrency', c)),
        limits: { maxSteps: num('--max-steps', flags.maxSteps) },
        outDir: flags.out,
      };
      const r = specSchema.safeParse(raw);
      if (!r.success) {
        throw new ServelabError(
          'BAD_FLAG',
          r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        );
      }
      const spec = r.data;
      const { code } = await executeSpec(
        ctx.io,
        { spec, baseDir: dirname(cfgPath), file: cfgPath },
        {
          // `agent` has no --resume: name what was kept and what is left to run
          interruptedHint: (res) => {
            const done = new Set(res.cells.filter((c) => c.status === 'complete').map((c) => c.concurrency));
            const left = (spec.concurrency ?? []).filter((c) => !done.has(c));
            return (
              `${shellCommand(['servelab', 'analyze', res.runDir])} reads them` +
              (left.length
                ? `; to measure the rest, run this servelab agent command again with -c ${left.join(',')}`
                : '')
            );
          },
        },
      );
      ctx.setExit(code);
    });
}

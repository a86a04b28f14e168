import { Command, CommanderError } from 'commander';
import { SecretRegistry, secretsFromEnv } from '../config/secrets.js';
import { EXIT, formatError, ServelabError } from '../errors.js';
import { SERVELAB_VERSION } from '../version.js';
import { COMMANDS } from './commands/index.js';
import type { CliIO } from './io.js';

/** Builds the program with every command registered. Exported for tests and `--help` docs. */
export function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('servelab')
    .description('Experiments on LLM serving systems: benchmarks, agentic workloads, a simulated vLLM engine')
    .version(SERVELAB_VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  for (const register of COMMANDS) register(program, { io, setExit });
  return program;
}

/**
 * The only place that decides the exit code. Takes argv (without node and script) and the
 * effects, so tests drive the CLI in-process.
 */
export async function runMain(argv: string[], ioOverride?: Partial<CliIO>): Promise<number> {
  const controller = new AbortController();
  const raw: CliIO = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTTY: Boolean(process.stderr.isTTY),
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    ...ioOverride,
  };
  // every secret servelab learns (env here; flags, files, headers, recipes in the commands) is
  // scrubbed from everything printed, server-provided text included
  const secrets = raw.secrets ?? new SecretRegistry();
  secrets.addAll(secretsFromEnv(raw.env));
  const io: CliIO = {
    ...raw,
    stdout: (t) => raw.stdout(secrets.scrub(t)),
    stderr: (t) => raw.stderr(secrets.scrub(t)),
    secrets,
  };
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) {
      io.stderr(`\nservelab: second ${sig}, exiting now\n`);
      process.exit(EXIT.interrupted);
    }
    io.stderr(`\nservelab: ${sig} received, stopping (what was measured is kept; press again to force)\n`);
    controller.abort(new ServelabError('INTERRUPTED', `interrupted by ${sig}`));
  };
  const ownSignals = ioOverride?.signal === undefined;
  if (ownSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let exitCode: number = EXIT.ok;
  try {
    const program = buildProgram(io, (c) => {
      exitCode = c;
    });
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version print and exit 0; parse errors were already printed by commander
      exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else {
      io.stderr(`${formatError(err)}\n`);
      exitCode = err instanceof ServelabError ? err.exitCode : EXIT.failed;
      if (!(err instanceof ServelabError) && io.env.SERVELAB_DEBUG)
        io.stderr(`${(err as Error)?.stack ?? ''}\n`);
    }
  } finally {
    if (ownSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  return exitCode;
}

import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { registerAgent } from './agent.js';
import { registerAggregate } from './aggregate.js';
import { registerAnalyze } from './analyze.js';
import { registerBench } from './bench.js';
import { registerCheck } from './check.js';
import { registerCompare } from './compare.js';
import { registerDataset } from './dataset.js';
import { registerDoctor } from './doctor.js';
import { registerMonitor } from './monitor.js';
import { registerPlan } from './plan.js';
import { registerReport } from './report.js';
import { registerRun } from './run.js';
import { registerSbatch } from './sbatch.js';
import { registerScrape } from './scrape.js';
import { registerSim } from './sim.js';
import { registerSimulate } from './simulate.js';
import { registerSweep } from './sweep.js';

/**
 * A command module registers itself on the program. `setExit` records the exit code of the
 * action (commander's own process.exit is disabled; only runMain decides the exit code).
 */
export interface CommandContext {
  io: CliIO;
  setExit: (code: number) => void;
}
export type RegisterCommand = (program: Command, ctx: CommandContext) => void;

/** Every command of servelab. Add one import + one entry per command module. */
export const COMMANDS: RegisterCommand[] = [
  registerRun,
  registerSimulate,
  registerSweep,
  registerAgent,
  registerBench,
  registerDataset,
  registerAnalyze,
  registerCompare,
  registerAggregate,
  registerReport,
  registerSim,
  registerSbatch,
  registerCheck,
  registerDoctor,
  registerMonitor,
  registerScrape,
  registerPlan,
];

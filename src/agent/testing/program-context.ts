/**
 * A ProgramContext for the agent tests that drive a cell: by default one orchestrator model 'o'
 * (no experts, 10-token answers, a 5-token system prompt, one attempt per call, no records
 * kept); a test names what it sets apart (its transport, the server's URL or its own pools, the
 * models and lengths, the time scale, the limits, the record callbacks) and takes the rest here.
 */
import type { Transport } from '../../loadgen/transport.js';
import type { WorkItem } from '../driver.js';
import { PoolSet } from '../pool.js';
import type { ProgramConfig, ProgramContext, ProgramLimits } from '../runtime.js';
import { generateTasks } from '../taskset.js';

export interface TestContextOptions extends Partial<Omit<ProgramContext, 'transport' | 'config' | 'limits'>> {
  /** the orchestrator's one endpoint (default a closed port: for transports that never dial); unused with `pools` */
  baseUrl?: string;
  config?: Partial<ProgramConfig>;
  limits?: Partial<ProgramLimits>;
}

export function testProgramContext(transport: Transport, opts: TestContextOptions = {}): ProgramContext {
  const { baseUrl = 'http://127.0.0.1:9/v1', pools, config, limits, ...rest } = opts;
  return {
    transport,
    pools: pools ?? new PoolSet(new Map([['o', [{ baseUrl, model: 'o' }]]]), 'random', 1),
    config: {
      orchestrator: 'o',
      experts: {},
      stream: true,
      maxTokens: 10,
      expertMaxTokens: 10,
      temperature: 1,
      userMode: 'scripted',
      systemPromptTokens: 5,
      timeScale: 1,
      programFields: [],
      replayOutput: 'directive',
      extraBody: {},
      ...config,
    },
    limits: {
      maxSteps: 5,
      maxTaskTimeMs: 10_000,
      callTimeoutMs: 10_000,
      retry: { maxAttempts: 1, baseMs: 0, capMs: 0 },
      ...limits,
    },
    cellTag: 't',
    now: () => performance.now(),
    onStep: () => {},
    onProgress: () => {},
    onNote: () => {},
    ...rest,
  };
}

/** The first `count` tasks of the tau2-like generator on `seed`, as live work; `userTurns` replaces each task's. */
export function liveItems(seed: number, count: number, userTurns?: number): WorkItem[] {
  return generateTasks({ seed, scale: 1, count, overrides: {} }).map((task) => ({
    kind: 'live',
    task: userTurns === undefined ? task : { ...task, userTurns },
  }));
}

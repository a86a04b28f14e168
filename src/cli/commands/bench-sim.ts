import { driftingEngineFactory } from '../../loadgen/scenarios/sim-drift.js';
import { startSimServers } from '../../sim/server/index.js';

/** The model the embedded simulator serves when --model is not given. */
export const EMBEDDED_SIM_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** Starts the embedded simulator (one replica, real time) on a free port of 127.0.0.1. */
export async function startEmbeddedSimulator(
  model: string | undefined,
  log: (line: string) => void,
  stepDriftPctPerMin?: number,
): Promise<{ url: string; model: string; stop: () => Promise<void> }> {
  const sim = await startSimServers({
    servers: [{ model: model ?? EMBEDDED_SIM_MODEL, port: 0 }],
    log,
    ...(stepDriftPctPerMin ? { createEngine: driftingEngineFactory(stepDriftPctPerMin) } : {}),
  });
  if (stepDriftPctPerMin) log(`injected slow leak: step time +${stepDriftPctPerMin} % per minute`);
  const ep = sim.endpoints[0]!;
  return { url: ep.url, model: ep.model, stop: () => sim.close() };
}

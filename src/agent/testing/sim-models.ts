/**
 * Simulated models for the agent tests that drive cells in virtual time: each model an engine
 * and a SimService (prompt-tokens details on, seed 3) on one VirtualClock, all behind one
 * in-process simulator transport, and pools of one `sim://<model>/v1` endpoint per model.
 */
import { createSimTransport } from '../../loadgen/sim-transport.js';
import type { Endpoint } from '../../loadgen/transport.js';
import { VirtualClock } from '../../sim/clock.js';
import { createEngine, type EngineOptions } from '../../sim/engine.js';
import type { PersonaName } from '../../sim/persona.js';
import { SimService } from '../../sim/service.js';
import { PoolSet } from '../pool.js';

export interface SimModel {
  model: string;
  persona: PersonaName;
  gpu: string;
  /** engine options on top of the model and GPU (context length, KV blocks) */
  engine?: Partial<EngineOptions>;
}

export function simulatedModels(models: readonly SimModel[]) {
  const clock = new VirtualClock(1_000_000);
  const services = new Map(
    models.map((m) => [
      m.model,
      new SimService({
        engine: createEngine({ model: m.model, gpu: m.gpu, ...m.engine }, clock),
        clock,
        modelName: m.model,
        persona: m.persona,
        enablePromptTokensDetails: true,
        seed: 3,
      }),
    ]),
  );
  const sim = createSimTransport({ clock, services: (e: Endpoint) => services.get(e.model) });
  const pools = new PoolSet(
    new Map(
      models.map((m) => [m.model, [{ baseUrl: `sim://${m.model}/v1`, model: m.model, label: m.model }]]),
    ),
    'random',
    1,
  );
  return { sim, pools };
}

/**
 * One simulated Llama-3.1-8B on an H100 in-process on a virtual clock (seed 1), behind the
 * simulator transport, and the chat template that streams to it: the target of the loadgen
 * tests that run stages in virtual time.
 */
import { VirtualClock } from '../../sim/clock.js';
import { createEngine, type EngineOptions } from '../../sim/engine.js';
import { SimService } from '../../sim/service.js';
import type { RequestTemplate } from '../requests.js';
import { createSimTransport } from '../sim-transport.js';

export const SIM_TARGET_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

export interface SimTargetOptions {
  /** engine options on top of the model, GPU and an 8192-token context */
  engine?: Partial<EngineOptions>;
  /** usage.prompt_tokens_details.cached_tokens in answers (vLLM --enable-prompt-tokens-details) */
  enablePromptTokensDetails?: boolean;
}

export function simTarget(opts: SimTargetOptions = {}) {
  const clock = new VirtualClock(1_000_000);
  const engine = createEngine(
    { model: SIM_TARGET_MODEL, gpu: 'H100', maxModelLen: 8192, ...opts.engine },
    clock,
  );
  const service = new SimService({
    engine,
    clock,
    seed: 1,
    ...(opts.enablePromptTokensDetails ? { enablePromptTokensDetails: true } : {}),
  });
  const sim = createSimTransport({ clock, services: service });
  const tpl: RequestTemplate = {
    endpoint: { baseUrl: 'sim://a/v1', model: service.modelName },
    api: 'chat',
    stream: true,
    minTokens: true,
    ignoreEos: false,
  };
  return { clock, sim, tpl };
}

/**
 * Test drivers of the scheduler and policy tests: the real engine on a VirtualClock with a fixed
 * 10 ms step and no fast-forward, its steps and finished requests recorded.
 */
import { VirtualClock } from '../clock.js';
import { createEngine, type EngineOptions } from '../engine.js';
import type { EngineFinishReason, EngineRequestInfo, EngineRequestSpec, StepInfo } from '../engine-api.js';

export interface Done {
  reason: EngineFinishReason;
  info: EngineRequestInfo;
}

export const seq = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Llama-3.1-8B on an H100 (`opts` on top), every step recorded; `done` is for the caller's onFinish. */
export function engineOnClock(opts: Partial<EngineOptions>) {
  const clock = new VirtualClock();
  const engine = createEngine(
    { model: 'Llama-3.1-8B', gpu: 'H100', stepTimeFn: () => 10, fastForward: false, ...opts },
    clock,
  );
  const steps: StepInfo[] = [];
  engine.onStep = (s) => steps.push(s);
  const done = new Map<string, Done>();
  return { clock, engine, steps, done };
}

/** engineOnClock with the policy tests' submit (extra request fields, a callback at the finish) and `at`. */
export function setup(opts: Partial<EngineOptions>) {
  const { clock, engine, steps, done } = engineOnClock(opts);
  /** submit now; then() runs at the request's finish */
  const submit = (
    id: string,
    prompt: number[],
    maxTokens: number,
    extra: Partial<EngineRequestSpec> = {},
    then?: () => void,
  ) => {
    engine.submit(
      { id, promptTokenIds: prompt, maxTokens, targetOutputTokens: maxTokens, ...extra },
      {
        onFinish: (reason, info) => {
          done.set(id, { reason, info });
          then?.();
        },
      },
    );
  };
  /** submit at time atMs */
  const at = (atMs: number, fn: () => void) => clock.schedule(atMs, fn);
  return { clock, engine, steps, done, submit, at };
}

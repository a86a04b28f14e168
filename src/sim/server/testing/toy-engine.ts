/**
 * A tiny stand-in engine for the front's tests, written against engine-api.ts only: every step
 * (fixed stepMs) each running request emits one token; prefix caching by 16-token blocks. It
 * checks the front's wire behaviour, not engine fidelity (that is src/sim/engine.ts's job).
 */
import type {
  Clock,
  Engine,
  EngineCounters,
  EngineRequestInfo,
  EngineRequestListener,
  EngineRequestSpec,
  EngineSnapshot,
  ResolvedEngineConfig,
  StepInfo,
} from '../../engine-api.js';
import { promptArray } from '../../prompt-parts.js';

interface Req {
  spec: EngineRequestSpec;
  listener: EngineRequestListener;
  info: EngineRequestInfo;
}

export interface ToyEngineOptions {
  model?: string;
  maxModelLen?: number;
  stepMs?: number;
}

export function toyEngine(clock: Clock, opts: ToyEngineOptions = {}): Engine {
  const stepMs = opts.stepMs ?? 2;
  const config: ResolvedEngineConfig = {
    model: opts.model ?? 'toy-model',
    gpu: 'toy',
    tp: 1,
    blockSize: 16,
    numGpuBlocks: 1000,
    kvCapacityTokens: 16000,
    maxModelLen: opts.maxModelLen ?? 4096,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 8192,
    gpuMemoryUtilization: 0.9,
    enablePrefixCaching: true,
    kvCacheDtype: 'auto',
    weightDtype: 'bf16',
  };
  const counters: EngineCounters = {
    promptTokens: 0,
    generationTokens: 0,
    preemptions: 0,
    prefixQueries: 0,
    prefixHits: 0,
    cachedPromptTokens: 0,
    finished: { stop: 0, length: 0, abort: 0 },
  };
  const running = new Map<string, Req>();
  const cachedBlocks = new Set<string>();
  /** a step is scheduled */
  let stepping = false;

  const finish = (r: Req, reason: 'stop' | 'length' | 'abort', now: number) => {
    running.delete(r.spec.id);
    counters.finished[reason]++;
    r.info.finishMs = now;
    r.listener.onFinish(reason, r.info);
  };
  const step = () => {
    stepping = false;
    const start = clock.nowMs() - stepMs;
    const now = clock.nowMs();
    let tokens = 0;
    for (const r of [...running.values()]) {
      const i = r.info;
      if (i.outputTokens === 0) {
        tokens += i.promptTokens - i.cachedTokens;
        i.firstTokenMs = now;
        r.listener.onFirstToken?.(now);
      } else tokens += 1;
      i.outputTokens++;
      counters.generationTokens++;
      r.listener.onTokens?.(1, now);
      if (i.outputTokens >= r.spec.maxTokens) finish(r, 'length', now);
      else if (i.outputTokens >= r.spec.targetOutputTokens) finish(r, 'stop', now);
    }
    const info: StepInfo = {
      startMs: start,
      endMs: now,
      numTokens: tokens,
      numRunning: running.size,
      numPreempted: 0,
    };
    engine.onStep?.(info);
    if (running.size > 0) {
      stepping = true;
      clock.schedule(now + stepMs, step);
    }
  };

  const engine: Engine = {
    config,
    realTimeLagMs: 0,
    submit(spec, listener) {
      const ids = promptArray(spec.promptTokenIds);
      let key = '';
      let cached = 0;
      let hitRun = true;
      for (let b = 0; (b + 1) * 16 <= ids.length; b++) {
        for (let k = b * 16; k < (b + 1) * 16; k++) key += `${ids[k]},`;
        if (hitRun && cachedBlocks.has(key) && (b + 1) * 16 < ids.length) cached += 16;
        else hitRun = false;
        cachedBlocks.add(key);
      }
      const now = clock.nowMs();
      counters.promptTokens += ids.length;
      counters.prefixQueries += ids.length;
      counters.prefixHits += cached;
      counters.cachedPromptTokens += cached;
      running.set(spec.id, {
        spec,
        listener,
        info: {
          promptTokens: ids.length,
          outputTokens: 0,
          cachedTokens: cached,
          preemptions: 0,
          arrivalMs: now,
          firstScheduledMs: now,
          finishMs: now,
        },
      });
      if (!stepping) {
        stepping = true;
        clock.schedule(now + stepMs, step);
      }
    },
    abort(id) {
      const r = running.get(id);
      if (r) finish(r, 'abort', clock.nowMs());
    },
    snapshot(): EngineSnapshot {
      return {
        nowMs: clock.nowMs(),
        running: running.size,
        waiting: 0,
        kvUsageFrac: Math.min(1, running.size / 100),
        counters: { ...counters, finished: { ...counters.finished } },
      };
    },
    resetPrefixCache() {
      cachedBlocks.clear();
      return true;
    },
  };
  return engine;
}

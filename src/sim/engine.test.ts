import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random.js';
import { RealClock, VirtualClock } from './clock.js';
import { createEngine, type EngineOptions } from './engine.js';
import type { EngineFinishReason, EngineRequestInfo } from './engine-api.js';

interface Out {
  reason: EngineFinishReason;
  info: EngineRequestInfo;
}

/** a seeded mixed workload: Poisson-ish arrivals, shared prefixes, varied lengths */
function runWorkload(fastForward: boolean, opts: Partial<EngineOptions> = {}) {
  const clock = new VirtualClock();
  const engine = createEngine(
    { model: 'Llama-3.1-8B', gpu: 'H100', maxModelLen: 4096, maxNumBatchedTokens: 512, fastForward, ...opts },
    clock,
  );
  const rng = mulberry32(7);
  const out = new Map<string, Out>();
  let t = 0;
  for (let i = 0; i < 120; i++) {
    t += -Math.log(1 - rng.next()) * 40;
    const shared = Math.floor(rng.next() * 4);
    const len = 20 + Math.floor(rng.next() * 600);
    const prompt = Array.from({ length: len }, (_, k) => (k < 200 ? shared * 100000 + k : i * 100000 + k));
    const target = 1 + Math.floor(rng.next() * 300);
    const id = `r${i}`;
    clock.schedule(t, () =>
      engine.submit(
        { id, promptTokenIds: prompt, maxTokens: 250, targetOutputTokens: target },
        { onFinish: (reason, info) => out.set(id, { reason, info }) },
      ),
    );
  }
  clock.runUntilIdle(1_000_000);
  return { engine, out, clock };
}

describe('engine', () => {
  it('fast-forward gives exactly the finish times of single stepping', () => {
    for (const blocks of [undefined, 300]) {
      const o = blocks === undefined ? {} : { numGpuBlocksOverride: blocks };
      const ff = runWorkload(true, o);
      const single = runWorkload(false, o);
      expect(ff.out.size).toBe(120);
      expect(ff.engine.fastForwardedSteps).toBeGreaterThan(0);
      expect(single.engine.fastForwardedSteps).toBe(0);
      expect(ff.engine.stepCount).toBe(single.engine.stepCount);
      for (const [id, a] of single.out) expect(ff.out.get(id)).toEqual(a);
      expect(ff.engine.snapshot().counters).toEqual(single.engine.snapshot().counters);
      if (blocks !== undefined) expect(single.engine.snapshot().counters.preemptions).toBeGreaterThan(0);
    }
  });

  it('does not fast-forward past a runUntil limit', () => {
    const clock = new VirtualClock();
    const engine = createEngine({ model: 'Llama-3.1-8B', gpu: 'H100', maxModelLen: 4096 }, clock);
    let fin = 0;
    engine.submit(
      { id: 'a', promptTokenIds: [1, 2, 3], maxTokens: 1000, targetOutputTokens: 1000 },
      { onFinish: () => fin++ },
    );
    clock.runUntil(100);
    const s = engine.snapshot();
    expect(s.nowMs).toBe(100);
    // ~7 ms steps: about 14 tokens by t=100, not hundreds
    expect(s.counters.generationTokens).toBeGreaterThan(10);
    expect(s.counters.generationTokens).toBeLessThan(20);
    clock.runUntilIdle();
    expect(fin).toBe(1);
  });

  it('reports startup lines and resolves defaults', () => {
    const e = createEngine(
      { model: '/ckpt/Nemotron-Orchestrator-8B', gpu: 'RTX 5090', gpuMemoryUtilization: 0.95 },
      new VirtualClock(),
    );
    expect(e.config).toMatchObject({
      maxNumBatchedTokens: 2048,
      maxNumSeqs: 256,
      blockSize: 16,
      maxModelLen: 40960,
    });
    expect(e.startupLines[0]).toMatch(/^GPU KV cache size: [\d,]+ tokens$/);
    expect(e.startupLines[1]).toMatch(/^Maximum concurrency for 40,960 tokens per request: \d+\.\d\dx$/);
  });

  it('refuses a max_model_len the KV cache cannot hold, as vLLM does', () => {
    expect(() => createEngine({ model: 'Llama-3.1-8B', gpu: 'RTX 5090' }, new VirtualClock())).toThrow(
      /max seq len \(131072\) is larger than the maximum number of tokens/,
    );
  });

  it('runs MoE and tensor-parallel profiles and refuses models that do not fit', () => {
    const clock = new VirtualClock();
    const e = createEngine(
      { model: 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8', gpu: 'H100', tp: 2, maxModelLen: 32768 },
      clock,
    );
    let info: EngineRequestInfo | undefined;
    e.submit(
      {
        id: 'm',
        promptTokenIds: Array.from({ length: 500 }, (_, i) => i + 1),
        maxTokens: 20,
        targetOutputTokens: 20,
      },
      { onFinish: (_r, i) => (info = i) },
    );
    clock.runUntilIdle();
    expect(info!.outputTokens).toBe(20);
    const itl = (info!.finishMs - info!.firstTokenMs!) / 19;
    expect(itl).toBeGreaterThan(1);
    expect(itl).toBeLessThan(10);
    expect(() => createEngine({ model: 'deepseek-ai/DeepSeek-R1', gpu: 'H100' }, new VirtualClock())).toThrow(
      /does not fit on 1 x H100-SXM-80GB/,
    );
  });

  it('streams token events with onTokens and a stepTimeMs of 0', () => {
    const clock = new VirtualClock(1000);
    const e = createEngine({ model: 'Llama-3.1-8B', gpu: 'H100', maxModelLen: 4096, stepTimeMs: 0 }, clock);
    const ev: string[] = [];
    e.submit(
      { id: 'a', promptTokenIds: [5, 6, 7], maxTokens: 3, targetOutputTokens: 10 },
      {
        onFirstToken: (t) => ev.push(`first@${t}`),
        onTokens: (n, t) => ev.push(`${n}@${t}`),
        onFinish: (r, info) => ev.push(`${r}:${info.outputTokens}@${info.finishMs}`),
      },
    );
    clock.runUntilIdle();
    expect(ev).toEqual(['first@1000', '1@1000', '1@1000', '1@1000', 'length:3@1000']);
  });

  it('real time: the next step starts where the last was planned to end, not after the streaming work', async () => {
    const clock = new RealClock();
    const engine = createEngine({ model: 'Llama-3.1-8B', gpu: 'H100', maxModelLen: 4096 }, clock);
    const steps: { startMs: number; endMs: number }[] = [];
    engine.onStep = (s) => steps.push({ startMs: s.startMs, endMs: s.endMs });
    const burn = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {}
    };
    let n = 0;
    const done = new Promise<void>((resolve) =>
      engine.submit(
        { id: 'a', promptTokenIds: [1, 2, 3, 4], maxTokens: 30, targetOutputTokens: 30 },
        {
          // 3 ms of "streaming" per step; one 60 ms stall (longer than the catch-up allowance)
          onTokens: () => burn(++n === 15 ? 60 : 3),
          onFinish: () => resolve(),
        },
      ),
    );
    await done;
    clock.stop();
    expect(steps.length).toBeGreaterThanOrEqual(30);
    // each step starts at the previous one's planned end: the fire time give or take the
    // clock's 0.5 ms early firing, or earlier when the fire was late; never ~3 ms after it
    const gaps = steps.slice(1).map((s, i) => s.startMs - steps[i]!.endMs);
    expect(Math.max(...gaps)).toBeLessThan(1);
    // the 60 ms stall put the engine behind by more than it may catch up: counted as lag
    expect(engine.realTimeLagMs).toBeGreaterThan(20);
    expect(engine.realTimeLagMs).toBeLessThan(500); // bounded by the stall (+ scheduling noise), not growing
  });
});

/**
 * Hand-computed scheduling cases, driven through the real engine on a VirtualClock with a
 * fixed 10 ms step (block size 16, tiny block pools so allocation failures are easy to reach).
 */
import { describe, expect, it } from 'vitest';
import type { EngineOptions } from './engine.js';
import { engineOnClock, seq } from './testing/engine.js';

function setup(opts: Partial<EngineOptions>) {
  const { clock, engine, steps, done } = engineOnClock(opts);
  const tokens = new Map<string, number[]>();
  const submit = (id: string, prompt: number[], maxTokens = 1000, target = 1000) => {
    tokens.set(id, []);
    engine.submit(
      { id, promptTokenIds: prompt, maxTokens, targetOutputTokens: target },
      {
        onTokens: (_n, t) => tokens.get(id)!.push(t),
        onFinish: (reason, info) => done.set(id, { reason, info }),
      },
    );
  };
  return { clock, engine, steps, done, tokens, submit };
}

describe('scheduler (vLLM V1 semantics)', () => {
  it('chunked prefill splits a long prompt over steps; a partial prefill emits no token', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 512, maxNumBatchedTokens: 64 });
    t.submit('a', seq(150), 3, 3);
    t.clock.runUntilIdle();
    expect(t.steps.map((s) => s.numTokens)).toEqual([64, 64, 22, 1, 1]);
    expect(t.done.get('a')!.info.firstTokenMs).toBe(30);
    expect(t.tokens.get('a')).toEqual([30, 40, 50]);
    expect(t.done.get('a')!.reason).toBe('length');
  });

  it('shares the token budget: running decodes first, a new prefill gets what is left', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 512, maxNumBatchedTokens: 64 });
    t.submit('a', seq(10), 5, 5);
    t.clock.runUntil(5); // a prefilled in step 1 (10 tokens), decoding from step 2
    t.submit('b', seq(100, 1000), 1, 1);
    t.clock.runUntilIdle();
    // step 2: a 1 + b 63; step 3: a 1 + b 37 -> b's first token at t=30
    expect(t.steps.slice(0, 3).map((s) => s.numTokens)).toEqual([10, 64, 38]);
    expect(t.done.get('b')!.info.firstTokenMs).toBe(30);
  });

  it('caps running requests at max_num_seqs', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 256, maxNumSeqs: 2 });
    t.submit('a', seq(10), 2, 2);
    t.submit('b', seq(10, 100), 5, 5);
    t.submit('c', seq(10, 200), 1, 1);
    t.clock.runUntilIdle();
    expect(t.steps[0]!.numRunning).toBe(2);
    // a finishes at the end of step 2 (t=20); c is admitted in step 3
    expect(t.done.get('a')!.info.finishMs).toBe(20);
    expect(t.done.get('c')!.info.firstScheduledMs).toBe(20);
  });

  it('blocks the waiting queue behind a head that does not fit (head-of-line blocking)', () => {
    // 10 usable blocks: a takes 7 (100 tokens), b needs 5, c (16 tokens) would fit but waits behind b
    const t = setup({ numGpuBlocksOverride: 11, maxModelLen: 160 });
    t.submit('a', seq(100), 3, 3);
    t.submit('b', seq(80, 1000), 1, 1);
    t.submit('c', seq(16, 2000), 1, 1);
    t.clock.runUntilIdle();
    expect(t.steps[0]!.numTokens).toBe(100);
    // a emits at 10, 20, 30 and frees its blocks at 30; b and c are admitted in the step starting at 30
    expect(t.done.get('b')!.info.firstScheduledMs).toBe(30);
    expect(t.done.get('c')!.info.firstScheduledMs).toBe(30);
  });

  it('preempts the newest running request; its freed chain goes to the tail in reverse, so the tail is evicted first', () => {
    // 4 usable blocks. Step 1: a (16 tok) block 1, b (48 tok) blocks 2,3,4 -> none free.
    // Step 2: a needs a block for token 16 -> preempt the newest, b (free queue: 4,3,2);
    //   a takes block 4 = b's LAST block (its hash evicted); nothing is admitted in this step.
    // Step 3: b (front of waiting) hits blocks 2,3 (32 tokens) but needs 2 more + 2 evictable > 2 free: waits.
    // a finishes at the end of step 3 (t=30); step 4 admits b with 32 cached tokens and 17 to compute.
    const t = setup({ numGpuBlocksOverride: 5, maxModelLen: 64 });
    t.submit('a', seq(16), 3, 3);
    t.submit('b', seq(48, 100), 2, 2);
    t.clock.runUntilIdle();
    expect(t.steps.map((s) => [s.numTokens, s.numRunning, s.numPreempted])).toEqual([
      [64, 2, 0],
      [1, 1, 1],
      [1, 1, 0],
      [17, 1, 0],
    ]);
    const b = t.done.get('b')!.info;
    expect(b).toMatchObject({
      preemptions: 1,
      cachedTokens: 32,
      firstScheduledMs: 0,
      firstTokenMs: 10,
      finishMs: 40,
    });
    expect(t.done.get('a')!.info.finishMs).toBe(30);
  });

  it('admits nothing after a preemption even when the preempted request would fit; it goes back in front', () => {
    // 8 usable blocks; max 3 running. Step 1: a (48 tok) 3 blocks; x (32) 2 blocks, cached when
    // scheduled; v (same 32 tokens) hits x's first block and takes 1 more -> 2 free; w waits.
    // Step 2: a takes a block (token 48), x takes the last (token 32), v needs one -> v is the
    // newest -> preempted (victim is itself). v would fit at once (hits x's 2 blocks, needs 1,
    // 1 free) but nothing is admitted in a step with a preemption; v, in front of w, comes back in step 3.
    const t = setup({ numGpuBlocksOverride: 9, maxModelLen: 128, maxNumSeqs: 3 });
    t.submit('a', seq(48), 4, 4);
    t.submit('x', seq(32, 500), 4, 4);
    t.submit('v', seq(32, 500), 4, 4);
    t.submit('w', seq(8, 900), 1, 1);
    t.clock.runUntilIdle();
    expect(t.steps[0]!.numTokens).toBe(48 + 32 + 16);
    expect(t.steps[1]).toMatchObject({ numTokens: 2, numRunning: 2, numPreempted: 1 });
    expect(t.steps[2]).toMatchObject({ numTokens: 3, numRunning: 3, numPreempted: 0 });
    const v = t.done.get('v')!.info;
    expect(v.preemptions).toBe(1);
    expect(v.cachedTokens).toBe(32);
    expect(v.firstTokenMs).toBe(10);
    expect(t.engine.snapshot().counters.preemptions).toBe(1);
    // a and x finish at 40; w only then
    expect(t.done.get('w')!.info.firstScheduledMs).toBe(40);
    expect(v.outputTokens).toBe(4);
  });

  it('shares blocks between identical prompts admitted in the same step (cached when scheduled)', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 256 });
    t.submit('p', seq(40), 1, 1);
    t.submit('q', seq(40), 1, 1);
    t.clock.runUntilIdle();
    expect(t.done.get('q')!.info.cachedTokens).toBe(32);
    expect(t.steps[0]!.numTokens).toBe(40 + 8);
  });

  it('stops scheduling when the victim is the request itself', () => {
    // 4 usable blocks: a (32) 2 blocks, b (16) 1 block, 1 free.
    // Step 2: a takes the free block for token 32; b needs a block for token 16 -> it is the newest -> preempted.
    const t = setup({ numGpuBlocksOverride: 5, maxModelLen: 64 });
    t.submit('a', seq(32), 3, 3);
    t.submit('b', seq(16, 100), 2, 2);
    t.clock.runUntilIdle();
    expect(t.steps[1]).toMatchObject({ numTokens: 1, numRunning: 1, numPreempted: 1 });
    expect(t.done.get('b')!.info.preemptions).toBe(1);
    expect(t.done.get('a')!.reason).toBe('length');
    expect(t.done.get('b')!.info.outputTokens).toBe(2);
  });

  it('caps a prefix hit below the full prompt and counts queries and hits in tokens', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 256 });
    t.submit('a', seq(32), 1, 1);
    t.clock.runUntilIdle();
    t.submit('b', seq(32), 1, 1); // all 32 cached, but at most 31 may hit -> 1 block
    t.clock.runUntilIdle();
    t.submit('c', seq(40), 1, 1); // 2 full cached blocks hit
    t.clock.runUntilIdle();
    expect(t.done.get('b')!.info.cachedTokens).toBe(16);
    expect(t.done.get('c')!.info.cachedTokens).toBe(32);
    const c = t.engine.snapshot().counters;
    expect(c.prefixQueries).toBe(32 + 32 + 40);
    expect(c.prefixHits).toBe(16 + 32);
    expect(c.cachedPromptTokens).toBe(48);
    expect(c.promptTokens).toBe(104);
  });

  it('hits cached output blocks when a later prompt re-sends the conversation with the generated ids', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 256 });
    // prompt 16 + 20 generated = 36 tokens; full blocks: 0..15 and 16..31 are cached
    t.engine.submit(
      {
        id: 'turn1',
        promptTokenIds: seq(16),
        maxTokens: 20,
        targetOutputTokens: 20,
        outputTokenIds: seq(20, 5000),
      },
      { onFinish: () => {} },
    );
    t.clock.runUntilIdle();
    t.submit('turn2', [...seq(16), ...seq(20, 5000), ...seq(10, 9000)], 1, 1);
    t.submit('other', [...seq(16), ...seq(20, 6000), ...seq(10, 9000)], 1, 1);
    t.clock.runUntilIdle();
    expect(t.done.get('turn2')!.info.cachedTokens).toBe(32);
    expect(t.done.get('other')!.info.cachedTokens).toBe(16);
  });

  it('stops at max_model_len, max_tokens (length) and the target length (stop); length wins a tie', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 64 });
    t.submit('mml', seq(60), 100, 100);
    t.submit('max', seq(10, 100), 5, 9);
    t.submit('eos', seq(10, 200), 9, 5);
    t.submit('tie', seq(10, 300), 5, 5);
    t.clock.runUntilIdle();
    expect(t.done.get('mml')).toMatchObject({ reason: 'length', info: { outputTokens: 4 } });
    expect(t.done.get('max')).toMatchObject({ reason: 'length', info: { outputTokens: 5 } });
    expect(t.done.get('eos')).toMatchObject({ reason: 'stop', info: { outputTokens: 5 } });
    expect(t.done.get('tie')).toMatchObject({ reason: 'length', info: { outputTokens: 5 } });
    expect(t.engine.snapshot().counters.finished).toEqual({ stop: 1, length: 3, abort: 0 });
  });

  it('reports KV usage with the vLLM formula, idle cached blocks counted as free', () => {
    const t = setup({ numGpuBlocksOverride: 11, maxModelLen: 160 });
    t.submit('a', seq(40), 2, 2); // 3 blocks while running
    t.clock.runUntil(5);
    expect(t.engine.snapshot().kvUsageFrac).toBeCloseTo(3 / 10, 12);
    t.clock.runUntilIdle();
    expect(t.engine.snapshot().kvUsageFrac).toBe(0);
  });

  it('aborts waiting and running requests, freeing their blocks', () => {
    const t = setup({ numGpuBlocksOverride: 11, maxModelLen: 160, maxNumSeqs: 1 });
    t.submit('a', seq(40), 100, 100);
    t.submit('b', seq(40, 100), 100, 100);
    t.clock.runUntil(25);
    t.engine.abort('b');
    t.engine.abort('a');
    expect(t.done.get('a')!.reason).toBe('abort');
    expect(t.done.get('b')!.info.firstScheduledMs).toBeUndefined();
    expect(t.engine.snapshot()).toMatchObject({ running: 0, waiting: 0, kvUsageFrac: 0 });
    t.clock.runUntilIdle();
    expect(t.engine.snapshot().counters.finished.abort).toBe(2);
  });

  it('resets the prefix cache only when idle', () => {
    const t = setup({ numGpuBlocksOverride: 64, maxModelLen: 256 });
    t.submit('a', seq(40), 3, 3);
    t.clock.runUntil(5);
    expect(t.engine.resetPrefixCache()).toBe(false);
    t.clock.runUntilIdle();
    expect(t.engine.resetPrefixCache()).toBe(true);
    t.submit('b', seq(40), 1, 1);
    t.clock.runUntilIdle();
    expect(t.done.get('b')!.info.cachedTokens).toBe(0);
  });
});

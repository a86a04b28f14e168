/** vLLM's priority policy (v0.11 request_queue.py / scheduler.py), hand-computed. */
import { describe, expect, it } from 'vitest';
import { seq, setup } from '../testing/engine.js';

describe('priority policy', () => {
  it('admits the smallest priority first, then the earliest arrival', () => {
    // max_num_seqs 1: 'first' runs 0..10; then c (priority 0, t=3), a (priority 0, t=1),
    // b (priority -1, t=2) wait -> b, a, c
    const t = setup({
      maxNumSeqs: 1,
      numGpuBlocksOverride: 64,
      maxModelLen: 256,
      schedulingPolicy: 'priority',
    });
    t.submit('first', seq(10), 1);
    t.at(1, () => t.submit('a', seq(10, 100), 1));
    t.at(2, () => t.submit('b', seq(10, 200), 1, { priority: -1 }));
    t.at(3, () => t.submit('c', seq(10, 300), 1));
    t.clock.runUntilIdle();
    const at = (id: string) => t.done.get(id)!.info.firstScheduledMs;
    expect([at('b'), at('a'), at('c')]).toEqual([10, 20, 30]);
    // FCFS: arrival order
    const f = setup({ maxNumSeqs: 1, numGpuBlocksOverride: 64, maxModelLen: 256 });
    f.submit('first', seq(10), 1);
    f.at(1, () => f.submit('a', seq(10, 100), 1));
    f.at(2, () => f.submit('b', seq(10, 200), 1, { priority: -1 }));
    f.clock.runUntilIdle();
    expect(f.done.get('b')!.info.firstScheduledMs).toBe(20);
  });

  it('preempts max (priority, arrival), even one already scheduled in the step, returning its budget', () => {
    // 4 usable blocks. Step 1 (0..10): lo (priority 5, 16 tokens) 1 block, hi (priority 0,
    // 48 tokens) 3 blocks. Step 2: lo's token 16 needs a 2nd block -> victim max(priority) =
    // lo itself -> preempted, stop (an empty step); at 10 again hi runs alone (its token 48
    // takes lo's freed block). FCFS would preempt the newest (hi).
    const t = setup({ numGpuBlocksOverride: 5, maxModelLen: 64, schedulingPolicy: 'priority' });
    t.submit('lo', seq(16), 3, { priority: 5 });
    t.submit('hi', seq(48, 100), 2);
    t.clock.runUntilIdle();
    expect(t.done.get('lo')!.info.preemptions).toBe(1);
    expect(t.done.get('hi')!.info).toMatchObject({ preemptions: 0, finishMs: 20 });

    // a victim scheduled earlier in the same step: old (priority 9, 20 tokens) is admitted
    // alone at 0 (2 blocks); young (priority 0, 32 tokens) arrives at 5 and is admitted at 10
    // after it (2 blocks; none free). Step 3 (20): old's token 21 fits its 2nd block and is
    // scheduled; young's token 32 needs a 3rd block -> victim max (priority, arrival) = old, at an
    // index before young: taken out of the step (its token given back), its 2 blocks freed.
    const u = setup({ numGpuBlocksOverride: 5, maxModelLen: 64, schedulingPolicy: 'priority' });
    u.submit('old', seq(20), 4, { priority: 9 });
    u.at(5, () => u.submit('young', seq(32, 100), 3));
    u.clock.runUntilIdle();
    expect(u.steps.slice(0, 3).map((s) => [s.numTokens, s.numRunning, s.numPreempted])).toEqual([
      [20, 1, 0],
      [33, 2, 0],
      [1, 1, 1],
    ]);
    expect(u.done.get('old')!.info.preemptions).toBe(1);
    expect(u.done.get('young')!.info).toMatchObject({ preemptions: 0, finishMs: 40 });
  });
});

/**
 * Hand-computed cases of the Continuum fork's KV time-to-live policy, through the real engine
 * on a VirtualClock (fixed 10 ms steps, block size 16, tiny block pools).
 */
import { describe, expect, it } from 'vitest';
import { BlockPool } from '../block-pool.js';
import { SimRequest } from '../request.js';
import { seq, setup } from '../testing/engine.js';
import { createContinuumPolicy } from './continuum.js';

const HERMES_SEARCH =
  '<think>look it up</think><tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>';

describe('continuum policy (KV time-to-live)', () => {
  it('pins a tool call: pinned blocks count in usage, the next call hits them, its program goes first', () => {
    // 10 usable blocks. R (2 tokens, 14 outputs: 1 block) runs 0..140, so something is always
    // running. A1 (48 tokens, 3 blocks) finishes at 10 -> pinned for 2 s (tool 'search' never
    // seen: running average 0 <= 2 s). B (120 tokens, 8 blocks) arrives at 20: 6 free -> waits
    // (R runs, so no pin is released for it). A2 (A1's 48 tokens + A1's output token + 10)
    // arrives at 100: A is pinned -> A2 goes before B, hits all 3 pinned blocks (48 tokens) and
    // needs 1 block. A2 is the last step: its finish at 110 releases A1's pin; B is admitted at 110.
    const run = (schedulingPolicy: string) => {
      const t = setup({ numGpuBlocksOverride: 11, maxModelLen: 160, schedulingPolicy });
      t.submit('A1', seq(48), 1, { outputTokenIds: [7777], program: { jobId: 'A', thisFuncCall: 'search' } });
      t.submit('R', seq(2, 9000), 14, { program: { jobId: 'R', isLastStep: true } });
      t.at(20, () => t.submit('B', seq(120, 1000), 5, { program: { jobId: 'B', isLastStep: true } }));
      t.at(100, () =>
        t.submit('A2', [...seq(48), 7777, ...seq(10, 5000)], 1, {
          program: { jobId: 'A', isLastStep: true },
        }),
      );
      t.clock.runUntil(15);
      const mid = t.engine.snapshot();
      t.clock.runUntilIdle();
      return { t, mid };
    };
    const { t, mid } = run('continuum');
    expect(mid.kvUsageFrac).toBeCloseTo(4 / 10, 12);
    expect(mid.policy).toMatchObject({
      pinnedRequests: 1,
      pinnedBlocks: 3,
      pinnedOnlyBlocks: 3,
      pinsCreated: 1,
    });
    expect(t.done.get('A2')!.info).toMatchObject({ cachedTokens: 48, firstScheduledMs: 100, finishMs: 110 });
    expect(t.done.get('B')!.info.firstScheduledMs).toBe(110);
    const end = t.engine.snapshot();
    expect(end.kvUsageFrac).toBe(0);
    expect(end.policy).toMatchObject({
      pinnedRequests: 0,
      pinsReleasedByNextCall: 1,
      pinsReleasedUnderPressure: 0,
      pinHits: 1,
      pinHitTokens: 48,
    });

    // FCFS on the same script: A1's blocks (1..3) are free at 10, at the free-queue tail as
    // 3, 2, 1; B takes 5..10 then 3 and 2 (evicting their hashes), so A2 hits only block 1.
    const f = run('fcfs');
    expect(f.mid.kvUsageFrac).toBeCloseTo(1 / 10, 12);
    expect(f.mid.policy).toBeUndefined();
    expect(f.t.done.get('B')!.info.firstScheduledMs).toBe(20);
    expect(f.t.done.get('A2')!.info.cachedTokens).toBe(16);
  });

  it('expires a pin at the first step start after its deadline, on the virtual clock', () => {
    const t = setup({ numGpuBlocksOverride: 11, maxModelLen: 160, schedulingPolicy: 'continuum' });
    t.submit('E1', seq(40), 1, { program: { jobId: 'E', thisFuncCall: 'search' } }); // 3 blocks, pinned at 10 until 2010
    t.clock.runUntil(2000);
    expect(t.engine.snapshot().kvUsageFrac).toBeCloseTo(0.3, 12);
    expect(t.engine.snapshot().policy).toMatchObject({ pinnedRequests: 1 });
    // past the deadline with no step: the fork expires pins only when it schedules
    t.clock.runUntil(2400);
    expect(t.engine.snapshot().policy).toMatchObject({ pinnedRequests: 1, pinsExpired: 0 });
    t.at(2500, () => t.submit('G1', seq(16, 900), 1, { program: { jobId: 'G', isLastStep: true } }));
    t.clock.runUntil(2505); // step 2500..2510: the pin expires first, then G1 (16 tokens: 1 block)
    expect(t.engine.snapshot().kvUsageFrac).toBeCloseTo(0.1, 12);
    expect(t.engine.snapshot().policy).toMatchObject({ pinnedRequests: 0, pinsExpired: 1 });
    const ts = t.engine.schedulerTimestamps()!;
    expect(ts.E!.map((e) => Object.keys(e)[0])).toEqual([
      'Request_arrival_time',
      'waiting_to_running',
      'Request_departure_time',
      'pinned_time',
      'unpinned_time',
    ]);
    expect(ts.E![1]).toEqual({ waiting_to_running: 0, prompt_length: 40, hit_length: 0 });
    expect(ts.E![3]).toEqual({ pinned_time: 0.01 });
    expect(ts.E![4]).toEqual({ unpinned_time: 2.5 });
    // with an epoch offset, as the fork's time.time() seconds
    expect(t.engine.schedulerTimestamps(1_000_000)!.E![0]).toEqual({ Request_arrival_time: 1000 });
  });

  it('keeps a pin past its deadline while a call of its program waits; TTL rule from the tool running average', () => {
    // T1 ('slow', never seen -> pin 2 s) finishes at 10. T2 arrives at 3010: 'slow' took 3 s.
    // At the step start 3010 the pin is past its deadline but T is waiting -> kept, and T2 hits
    // it. T2 also calls 'slow': mean 3 s > 2 s -> no pin. F1/F2 ('fast', 1 s) -> pinned.
    const t = setup({ numGpuBlocksOverride: 21, maxModelLen: 320, schedulingPolicy: 'continuum' });
    t.submit('T1', seq(40), 1, { outputTokenIds: [7], program: { jobId: 'T', thisFuncCall: 'slow' } });
    t.at(3010, () =>
      t.submit('T2', [...seq(40), 7, ...seq(5, 500)], 1, { program: { jobId: 'T', thisFuncCall: 'slow' } }),
    );
    t.at(5000, () => t.submit('F1', seq(20, 2000), 1, { program: { jobId: 'F', thisFuncCall: 'fast' } }));
    t.at(6010, () => t.submit('F2', seq(20, 3000), 1, { program: { jobId: 'F', thisFuncCall: 'fast' } }));
    t.clock.runUntil(3015);
    expect(t.done.get('T2')).toBeUndefined();
    expect(t.engine.snapshot().policy).toMatchObject({ pinnedRequests: 1, pinsExpired: 0, pinHits: 1 });
    t.clock.runUntilIdle();
    expect(t.done.get('T2')!.info.cachedTokens).toBe(32);
    const p = t.engine.snapshot().policy!;
    // T1 pinned, released by T2's finish; T2 not pinned (slow); F1 pinned; F2 (fast: 1 s) pinned
    expect(p).toMatchObject({ pinsCreated: 3, pinsReleasedByNextCall: 2, pinnedRequests: 1 });
    expect(t.engine.policy.name).toBe('continuum');
  });

  it('puts the earliest program first, and a pinned program before it', () => {
    // max_num_seqs 1. O1 (program O, first at 0) runs 0..20; Y1 (program Y, first at 1) waits,
    // runs 20..30 and ends in a hermes tool call; Y2 arrives at 30 (from Y1's finish), O2 at 25.
    // Step 30: hermes parser -> Y pinned -> Y2 first (30), then O2 (40).
    // bashOnly parser (the fork before 2026-01-13) pins nothing -> program FCFS: O2 (30), Y2 (40).
    const run = (parser: 'hermes' | 'bashOnly') => {
      const t = setup({
        maxNumSeqs: 1,
        numGpuBlocksOverride: 64,
        maxModelLen: 256,
        schedulingPolicy: 'continuum',
        continuum: { parser },
      });
      t.submit('O1', seq(10), 2, { program: { jobId: 'O' } });
      t.at(1, () =>
        t.submit('Y1', seq(10, 100), 1, { program: { jobId: 'Y' }, outputText: HERMES_SEARCH }, () =>
          t.submit('Y2', seq(10, 200), 1, { program: { jobId: 'Y', isLastStep: true } }),
        ),
      );
      t.at(25, () => t.submit('O2', seq(10, 300), 1, { program: { jobId: 'O', isLastStep: true } }));
      t.clock.runUntilIdle();
      return t;
    };
    const h = run('hermes');
    expect(h.done.get('Y1')!.info.firstScheduledMs).toBe(20);
    expect(h.done.get('Y2')!.info.firstScheduledMs).toBe(30);
    expect(h.done.get('O2')!.info.firstScheduledMs).toBe(40);
    expect(h.engine.snapshot().policy!.pinsCreated).toBe(1);
    const b = run('bashOnly');
    expect(b.done.get('O2')!.info.firstScheduledMs).toBe(30);
    expect(b.done.get('Y2')!.info.firstScheduledMs).toBe(40);
    expect(b.engine.snapshot().policy!.pinsCreated).toBe(0);
  });

  it('the old bash-only parser pins nothing on hermes tool calls, even with this_func_call sent', () => {
    for (const [parser, pins] of [
      ['hermes', 1],
      ['bashOnly', 0],
    ] as const) {
      const t = setup({
        numGpuBlocksOverride: 64,
        maxModelLen: 256,
        schedulingPolicy: 'continuum',
        continuum: { parser },
      });
      t.submit('c1', seq(20), 1, {
        program: { jobId: 'j', thisFuncCall: 'search' },
        outputText: HERMES_SEARCH,
      });
      t.clock.runUntilIdle();
      expect(t.engine.snapshot().policy!.pinsCreated).toBe(pins);
    }
  });

  it('preempts a call not marked last step before a last-step one of a newer program', () => {
    // 4 usable blocks. a0 (program a, 8 tokens) runs 0..10 and is not pinned (no tool named);
    // b (program b, first at 5, LAST step, 48 tokens) waits; a1 (program a, first at 0, 16
    // tokens) is submitted at a0's finish. Step 10: program FCFS admits a1 before b: a1 1 block,
    // b 3 blocks, none free. Step 20: a1's token 16 needs a block. The newest program is b, but
    // it is marked last step, so the victim is a1 itself (an empty step); b runs alone at 20
    // (finishes at 30); a1 is recomputed from 30 (17 tokens) and finishes at 50.
    const t = setup({ numGpuBlocksOverride: 5, maxModelLen: 64, schedulingPolicy: 'continuum' });
    t.submit('a0', seq(8, 900), 1, { program: { jobId: 'a' } }, () =>
      t.submit('a1', seq(16), 3, { program: { jobId: 'a' } }),
    );
    t.at(5, () => t.submit('b', seq(48, 100), 2, { program: { jobId: 'b', isLastStep: true } }));
    t.clock.runUntilIdle();
    expect(t.steps.map((s) => [s.numTokens, s.numRunning])).toEqual([
      [8, 1],
      [64, 2],
      [1, 1],
      [17, 1],
      [1, 1],
    ]);
    expect(t.done.get('a1')!.info).toMatchObject({ preemptions: 1, firstScheduledMs: 10, finishMs: 50 });
    expect(t.done.get('b')!.info).toMatchObject({ preemptions: 0, firstScheduledMs: 10, finishMs: 30 });
  });

  it('with one running request short of blocks, releases the pin with the latest deadline instead of preempting', () => {
    // 4 usable blocks. P1 (32 tokens, 2 blocks) pinned at 10 (deadline 2010). Q (program q, 30
    // tokens, 2 blocks, 8 outputs) admitted at 10; at its token 32 it needs a third block: one
    // running -> P1's pin is released (no preemption), Q continues.
    const t = setup({ numGpuBlocksOverride: 5, maxModelLen: 64, schedulingPolicy: 'continuum' });
    t.submit('P1', seq(32), 1, { program: { jobId: 'P', thisFuncCall: 'search' } });
    t.at(10, () => t.submit('Q', seq(30, 100), 8, { program: { jobId: 'q', isLastStep: true } }));
    t.clock.runUntilIdle();
    expect(t.done.get('Q')!.info.preemptions).toBe(0);
    expect(t.engine.snapshot().policy).toMatchObject({ pinsReleasedUnderPressure: 1, pinnedRequests: 0 });
    expect(t.engine.snapshot().counters.preemptions).toBe(0);
  });

  it('nothing runs and the head waiting call does not fit: releases the latest pin (the fork), no stall', () => {
    // 10 usable blocks. A1 (64 tokens: 4 blocks) finishes at 10, pinned until 2010; B1 (64
    // tokens) submitted at 10 finishes at 20, pinned until 2020: 8 blocks pinned, 2 free. At 100
    // A2 and B2 arrive (their call's 64 tokens + the output token + 47: 112 tokens = 7 blocks; the
    // 4 pinned blocks count as allocated, so each needs 3 new blocks). Neither fits, nothing runs,
    // and unpin_requests_regular keeps a pin whose program has a call waiting: without a release
    // nothing ever changes again. The fork (admission failure with nothing running and pins held:
    // pop_running_request_based_on_last_step) releases the pin with the latest deadline, B1's;
    // the waiting order is then A (still pinned) first: A2 hits its 64 pinned tokens and runs
    // 100..110; B2 (B1's blocks now free but cached: 4 evictable + 3 new > 3 free) waits for
    // A2's finish, which releases A1's pin.
    const t = setup({ numGpuBlocksOverride: 11, maxModelLen: 160, schedulingPolicy: 'continuum' });
    t.submit('A1', seq(64, 1), 1, {
      outputTokenIds: [7001],
      program: { jobId: 'A', thisFuncCall: 'search' },
    });
    t.at(10, () =>
      t.submit('B1', seq(64, 2001), 1, {
        outputTokenIds: [9001],
        program: { jobId: 'B', thisFuncCall: 'search' },
      }),
    );
    t.at(100, () => {
      t.submit('A2', [...seq(64, 1), 7001, ...seq(47, 1001)], 1, {
        program: { jobId: 'A', isLastStep: true },
      });
      t.submit('B2', [...seq(64, 2001), 9001, ...seq(47, 3001)], 1, {
        program: { jobId: 'B', isLastStep: true },
      });
    });
    t.clock.runUntil(60_000);
    expect(t.done.get('A2')?.info).toMatchObject({ cachedTokens: 64, firstScheduledMs: 100, finishMs: 110 });
    expect(t.done.get('B2')?.info.firstScheduledMs).toBe(110);
    expect(t.engine.snapshot().policy).toMatchObject({
      pinsCreated: 2,
      pinsReleasedUnderPressure: 1,
      pinsReleasedByNextCall: 1,
      pinnedRequests: 0,
    });
    expect(t.engine.snapshot().kvUsageFrac).toBe(0);
  });

  it('paper TTL rule: argmax over observed tool times of P(tau) * (T * eta + reload) - tau', () => {
    // reload = prefill time of the call's tokens: 1 ms per token here, 4000 tokens -> 4 s; no
    // queueing yet (T = 0). Tool 'x' took 1 s and 2 s: tau 1 -> 0.5 * 4 - 1 = 1; tau 2 -> 1 * 4 - 2 = 2.
    const pol = createContinuumPolicy({ ttlRule: 'paper' }, { prefillMs: (n) => n });
    const pool = new BlockPool(8);
    const mk = (id: string, arrival: number, len: number, tool = 'x') =>
      new SimRequest(
        {
          id,
          promptTokenIds: seq(len),
          maxTokens: 1,
          targetOutputTokens: 1,
          program: { jobId: 'p', thisFuncCall: tool },
        },
        { onFinish: () => {} },
        arrival,
        100_000,
      );
    const r1 = mk('r1', 0, 10);
    pol.onArrival(r1, 0);
    pol.onFinished(r1, 'stop', 0, pool);
    const r2 = mk('r2', 1000, 10);
    pol.onArrival(r2, 1000); // 'x' took 1 s
    pol.onFinished(r2, 'stop', 1000, pool);
    const r3 = mk('r3', 3000, 4000);
    pol.onArrival(r3, 3000); // 'x' took 2 s
    expect(pol.toolMeanS('x')).toBe(1.5);
    r3.funcCall = 'x';
    expect(pol.ttlFor(r3, 3000)).toBe(2);
    // a short call (reload 10 ms) is not worth pinning
    const r4 = mk('r4', 3000, 10);
    r4.funcCall = 'x';
    expect(pol.ttlFor(r4, 3000)).toBe(0);
    // public rule on the same history: mean 1.5 s <= 2 s -> 2 s; a tool averaging 3 s -> 0
    const pub = createContinuumPolicy({}, { prefillMs: (n) => n });
    const s1 = mk('s1', 0, 10, 'slow');
    pub.onArrival(s1, 0);
    pub.onFinished(s1, 'stop', 0, pool);
    const s2 = mk('s2', 3000, 10);
    pub.onArrival(s2, 3000);
    s2.funcCall = 'slow';
    expect(pub.ttlFor(s2, 3000)).toBe(0);
    s2.funcCall = 'never-seen';
    expect(pub.ttlFor(s2, 3000)).toBe(2);
  });

  it('refuses unknown policies and continuum settings with a hint', () => {
    expect(() => setup({ schedulingPolicy: 'lifo' })).toThrow(/schedulingPolicy 'lifo' is not known/);
    expect(() => setup({ schedulingPolicy: 'continuum', continuum: { ttlS: -1 } })).toThrow(/continuum.ttlS/);
  });
});

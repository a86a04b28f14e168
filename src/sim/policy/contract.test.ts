/**
 * One engine contract, run over every scheduling policy: a seeded agent workload (programs of
 * several calls, each re-sending the grown conversation after a tool gap, with priorities,
 * job ids, tool names and a last step) on a small KV cache so that preemption and pins happen.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../random.js';
import { VirtualClock } from '../clock.js';
import { createEngine, type EngineOptions } from '../engine.js';
import type { EngineFinishReason, EngineRequestInfo } from '../engine-api.js';

const MAX_SEQS = 12;
const BUDGET = 512;
const BLOCKS = 300;

function runWorkload(opts: Partial<EngineOptions>, fastForward: boolean) {
  const clock = new VirtualClock();
  const engine = createEngine(
    {
      model: 'Llama-3.1-8B',
      gpu: 'H100',
      maxModelLen: 4096,
      maxNumSeqs: MAX_SEQS,
      maxNumBatchedTokens: BUDGET,
      numGpuBlocksOverride: BLOCKS,
      fastForward,
      ...opts,
    },
    clock,
  );
  const violations: string[] = [];
  engine.onStep = (s) => {
    if (s.numTokens > BUDGET) violations.push(`step at ${s.startMs}: ${s.numTokens} tokens > budget`);
    if (s.numRunning > MAX_SEQS)
      violations.push(`step at ${s.startMs}: ${s.numRunning} running > max_num_seqs`);
  };
  const seeded = mulberry32(11);
  const rng = () => seeded.next();
  const out = new Map<string, { reason: EngineFinishReason; info: EngineRequestInfo }>();
  let calls = 0;
  let next = 1_000_000;
  for (let p = 0; p < 30; p++) {
    const steps = 2 + Math.floor(rng() * 5);
    const tokens = Array.from({ length: 200 + Math.floor(rng() * 300) }, (_, i) =>
      i < 150 ? i + 1 : next++,
    );
    const priority = Math.floor(rng() * 3);
    let k = 0;
    const call = () => {
      const id = `p${p}-${k}`;
      const last = k === steps - 1;
      const target = 5 + Math.floor(rng() * 120);
      const outIds = Array.from({ length: target }, () => next++);
      const tool = rng() < 0.5 ? 'search' : 'slow_tool';
      const gap = tool === 'search' ? 200 + rng() * 1500 : 2500 + rng() * 2000;
      calls++;
      engine.submit(
        {
          id,
          promptTokenIds: tokens.slice(),
          maxTokens: 256,
          targetOutputTokens: target,
          outputTokenIds: outIds,
          priority,
          program: { jobId: `job-${p}`, isLastStep: last },
          outputText: last
            ? '<message>done</message>'
            : `<tool_call>{"name": "${tool}", "arguments": {}}</tool_call>`,
        },
        {
          onFinish: (reason, info) => {
            out.set(id, { reason, info });
            if (last) return;
            for (let i = 0; i < info.outputTokens; i++) tokens.push(outIds[i]!);
            const add = 50 + Math.floor(rng() * 200);
            for (let i = 0; i < add; i++) tokens.push(next++);
            k++;
            clock.schedule(clock.nowMs() + gap, call);
          },
        },
      );
    };
    clock.schedule(rng() * 3000, call);
  }
  const usage: number[] = [];
  const sample = () => {
    usage.push(engine.snapshot().kvUsageFrac);
    if (clock.nowMs() < 600_000) clock.schedule(clock.nowMs() + 250, sample);
  };
  clock.schedule(250, sample);
  clock.runUntilIdle(5_000_000);
  return { engine, out, calls, violations, usage };
}

const POLICIES: [string, Partial<EngineOptions>][] = [
  ['fcfs', {}],
  ['priority', { schedulingPolicy: 'priority' }],
  ['continuum (hermes parser, public TTL rule)', { schedulingPolicy: 'continuum' }],
  ['continuum (old bash-only parser)', { schedulingPolicy: 'continuum', continuum: { parser: 'bashOnly' } }],
  ['continuum (paper TTL rule)', { schedulingPolicy: 'continuum', continuum: { ttlRule: 'paper' } }],
];

describe.each(POLICIES)('engine contract: %s', (_name, opts) => {
  it('finishes every request within the limits, frees every block, keeps usage in [0, 1], fast-forwards exactly', () => {
    const ff = runWorkload(opts, true);
    const single = runWorkload(opts, false);
    for (const r of [ff, single]) {
      expect(r.violations).toEqual([]);
      expect(r.out.size).toBe(r.calls);
      for (const { reason } of r.out.values()) expect(reason === 'stop' || reason === 'length').toBe(true);
      const s = r.engine.snapshot();
      expect(s).toMatchObject({ running: 0, waiting: 0, kvUsageFrac: 0 });
      expect(s.counters.finished.stop + s.counters.finished.length).toBe(r.calls);
      for (const u of r.usage) expect(u >= 0 && u <= 1).toBe(true);
      if (s.policy) expect(s.policy).toMatchObject({ pinnedRequests: 0, pinnedBlocks: 0 });
    }
    expect(single.engine.snapshot().counters.preemptions).toBeGreaterThan(0);
    expect(ff.engine.fastForwardedSteps).toBeGreaterThan(0);
    expect(ff.engine.stepCount).toBe(single.engine.stepCount);
    for (const [id, a] of single.out) expect(ff.out.get(id)).toEqual(a);
    expect(ff.engine.snapshot().counters).toEqual(single.engine.snapshot().counters);
    expect(ff.engine.snapshot().policy).toEqual(single.engine.snapshot().policy);
    expect(ff.usage).toEqual(single.usage);
  });
});

describe('the policies differ on the same workload', () => {
  it('continuum pins and hits; the old parser pins nothing; priority reorders', () => {
    const fcfs = runWorkload({}, true);
    const cont = runWorkload({ schedulingPolicy: 'continuum' }, true).engine.snapshot().policy!;
    const old = runWorkload(
      { schedulingPolicy: 'continuum', continuum: { parser: 'bashOnly' } },
      true,
    ).engine.snapshot().policy!;
    expect(cont.pinsCreated).toBeGreaterThan(0);
    expect(cont.pinHits).toBeGreaterThan(0);
    expect(old.pinsCreated).toBe(0);
    const prio = runWorkload({ schedulingPolicy: 'priority' }, true);
    const differs = [...fcfs.out].some(([id, a]) => prio.out.get(id)!.info.finishMs !== a.info.finishMs);
    expect(differs).toBe(true);
  });
});

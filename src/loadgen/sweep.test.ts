/**
 * Sweeps on the in-process simulator (virtual time): later stages draw fresh prompts, and an
 * automatic sweep's rates are the ones its two measured stages imply.
 */
import { describe, expect, it } from 'vitest';
import { syntheticItems } from '../workload/synthetic.js';
import { runBench, stageSeed } from './bench-run.js';
import { autoRates, parseSweep } from './sweep.js';
import { simTarget } from './testing/sim-target.js';

const promptsFor = (seed: number) =>
  syntheticItems({
    count: 40,
    input: { kind: 'fixed', value: 512 },
    output: { kind: 'fixed', value: 16 },
    seed,
  });
// the simulator runs with prompt-tokens details on, so no figure on any request means no hit
const hitFrac = (r: { summary: { tokens: { input: number; cached: number | null } } }) =>
  (r.summary.tokens.cached ?? 0) / r.summary.tokens.input;

describe('sweep stages', () => {
  it('each stage draws fresh prompts from its own seed: stage 2 hits the prefix cache like stage 1', async () => {
    const run = async (fresh: boolean) => {
      const { sim: t, tpl } = simTarget({ enablePromptTokensDetails: true });
      return runBench({
        items: promptsFor(5),
        template: tpl,
        sweep: parseSweep('c4,c4', {}),
        seed: 5,
        transport: t,
        virtual: t,
        ...(fresh ? { freshItems: promptsFor } : {}),
      });
    };
    const fresh = await run(true);
    const [s1, s2] = fresh.stages.map(hitFrac);
    expect(s1).toBeLessThan(0.1);
    expect(Math.abs(s2! - s1!)).toBeLessThan(0.05);
    expect(stageSeed(5, 0)).toBe(5);
    expect(stageSeed(5, 1)).not.toBe(5);
    expect(stageSeed(5, 1)).toBe(stageSeed(5, 1));
    // the same prompts again: the server answers them from its cache
    const same = await run(false);
    expect(hitFrac(same.stages[1]!)).toBeGreaterThan(0.9);
  });

  it('auto rates are evenly spaced between the synchronous and the max throughput (by hand)', () => {
    expect(autoRates(2, 8, 2)).toEqual([4, 6]);
    expect(autoRates(1, 13, 5)).toEqual([3, 5, 7, 9, 11]);
    expect(autoRates(5, 5, 3)).toEqual([]);
  });

  it('an auto sweep offers exactly those rates, and its arrivals come at them', async () => {
    const { sim: t, tpl } = simTarget({ enablePromptTokensDetails: true });
    const res = await runBench({
      items: promptsFor(1),
      template: tpl,
      sweep: parseSweep('auto:2', { maxConcurrency: 16 }),
      seed: 1,
      numPrompts: 200,
      transport: t,
      virtual: t,
      freshItems: promptsFor,
    });
    const sync = res.stages[0]!.summary.throughput.requestsPerS;
    const max = res.stages[1]!.summary.throughput.requestsPerS;
    expect(res.stages.map((s) => s.spec.kind)).toEqual(
      ['closed', 'closed', 'poisson', 'poisson'].slice(0, res.stages.length),
    );
    expect(res.stages.length).toBeGreaterThanOrEqual(3);
    // auto:2 -> sync + (max - sync) x 1/3 and x 2/3
    const want = [sync + (max - sync) / 3, sync + ((max - sync) * 2) / 3];
    res.stages.slice(2).forEach((st, k) => {
      const spec = st.spec as { kind: 'poisson'; ratePerSec: number };
      expect(spec.ratePerSec).toBeCloseTo(want[k]!, 9);
      // what was offered: 200 arrivals over the span of their due times
      const due = st.records.map((r) => r.scheduledMs).sort((a, b) => a - b);
      const offered = (due.length - 1) / ((due.at(-1)! - due[0]!) / 1000);
      expect(offered / want[k]!).toBeGreaterThan(0.8);
      expect(offered / want[k]!).toBeLessThan(1.25);
    });
  });
});

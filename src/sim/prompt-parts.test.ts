import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random.js';
import { hashBlock, ROOT_HASH } from './block-hash.js';
import { VirtualClock } from './clock.js';
import { createEngine } from './engine.js';
import type { EngineFinishReason, EngineRequestInfo } from './engine-api.js';
import { hashPromptBlock, type PromptIds, PromptParts, promptArray } from './prompt-parts.js';

/** random parts (some empty, some one token) and the same ids as one array */
function randomParts(seed: number): { parts: Uint32Array[]; flat: number[] } {
  const rng = mulberry32(seed);
  const parts: Uint32Array[] = [];
  const flat: number[] = [];
  const n = 1 + Math.floor(rng.next() * 12);
  for (let k = 0; k < n; k++) {
    const len = rng.next() < 0.2 ? 0 : rng.next() < 0.2 ? 1 : Math.floor(rng.next() * 40);
    const p = Uint32Array.from({ length: len }, () => Math.floor(rng.next() * 2 ** 32));
    parts.push(p);
    flat.push(...p);
  }
  return { parts, flat };
}

describe('PromptParts', () => {
  it('reads, copies, hashes and iterates as the array it stands for', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const { parts, flat } = randomParts(seed);
      const p = new PromptParts(parts);
      expect(p.length).toBe(flat.length);
      for (let i = -1; i <= flat.length; i++) expect(p.at(i)).toBe(flat[i]);
      expect([...p]).toEqual(flat);
      expect(Array.from(promptArray(p))).toEqual(flat);
      const rng = mulberry32(seed + 1000);
      for (let t = 0; t < 20 && flat.length > 0; t++) {
        const start = Math.floor(rng.next() * flat.length);
        const n = Math.floor(rng.next() * (flat.length - start + 1));
        const out = new Float64Array(n);
        p.copyTo(out, start, n);
        expect([...out]).toEqual(flat.slice(start, start + n));
        expect(hashPromptBlock(7, p, start, n)).toBe(hashBlock(7, flat, start, n));
      }
    }
  });

  it('an engine given the parts admits, hits the prefix cache and finishes exactly as given the array', () => {
    const run = (asParts: boolean) => {
      const clock = new VirtualClock();
      const engine = createEngine(
        {
          model: 'Llama-3.1-8B',
          gpu: 'H100',
          maxModelLen: 4096,
          maxNumBatchedTokens: 512,
          numGpuBlocksOverride: 300,
        },
        clock,
      );
      const rng = mulberry32(3);
      const out: [string, EngineFinishReason, EngineRequestInfo][] = [];
      const bs = 16;
      // 6 conversations of 10 calls: each call re-sends the last one's parts, its generation
      // prompt and answer (so the block the last prompt ended in, hashed over prompt and
      // outputs, is hit) and a new message
      const call = (conv: number, turn: number, parts: Uint32Array[]) => {
        const len = 1 + Math.floor(rng.next() * 70);
        const mine = [
          ...parts,
          Uint32Array.from({ length: len }, (_, k) => (conv * 7919 + turn * 131 + k) % 50000),
        ];
        const all = [...mine, Uint32Array.of(1, 2)];
        const flat = new PromptParts(all).toArray().slice();
        const ids: PromptIds = asParts ? new PromptParts(all) : flat;
        // the first full blocks' hashes given, as the in-process service gives them
        const given: number[] = [];
        for (let k = 0; (k + 1) * bs <= flat.length - 2 && k < 3; k++)
          given.push(hashBlock(k === 0 ? ROOT_HASH : given[k - 1]!, flat, k * bs, bs));
        const target = 1 + Math.floor(rng.next() * 40);
        const answer = Uint32Array.from({ length: target }, (_, k) => 60000 + conv * 100 + k);
        const id = `c${conv}t${turn}`;
        engine.submit(
          {
            id,
            promptTokenIds: ids,
            maxTokens: 64,
            targetOutputTokens: target,
            outputTokenIds: answer,
            promptBlockHashes: given,
          },
          {
            onFinish: (reason, info) => {
              out.push([id, reason, info]);
              if (turn < 9)
                clock.schedule(clock.nowMs() + 5, () =>
                  call(conv, turn + 1, [...mine, Uint32Array.of(1, 2), answer]),
                );
            },
          },
        );
      };
      for (let c = 0; c < 6; c++) clock.schedule(c * 3, () => call(c, 0, []));
      clock.runUntilIdle(1_000_000);
      return { out, counters: engine.snapshot().counters };
    };
    const a = run(true);
    const b = run(false);
    expect(a.out).toHaveLength(60);
    // most of each prompt is a hit: the answers' blocks included
    expect(a.counters.prefixHits / a.counters.prefixQueries).toBeGreaterThan(0.5);
    expect(a).toEqual(b);
  });
});

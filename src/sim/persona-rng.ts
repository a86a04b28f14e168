/**
 * Seeded randomness for personas and fault injection, on src/random.ts. Every draw is keyed by a hash of what the request says, so the
 * same request to the same seeded server produces the same output.
 */
import { type Rng, standardNormal } from '../random.js';

export { hashString, intIn, mixSeed, mulberry32, type Rng } from '../random.js';

/** Log-normal with the given median, clamped to [lo, hi] and rounded. */
export function logNormalInt(rng: Rng, median: number, sigma: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(median * Math.exp(sigma * standardNormal(rng)))));
}

/**
 * Common English words that are one token each (with their leading space) for real BPE
 * tokenizers and for the sim tokenizer; filler output is drawn from them.
 */
export const FILLER_WORDS: readonly string[] = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have ' +
  'an had they you were their one all we can her has there been if more when will would who so no she ' +
  'other its may these about than into only some could them time two then do first any my now such like our ' +
  'over man me even most made after also did many before must through back years where much your way well ' +
  'down should because each just those people how too little state good very make world still own see men ' +
  'work long get here between both life being under never day same another know while last might us great'
).split(' ');

export function fillerWords(rng: Rng, n: number): string {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = FILLER_WORDS[Math.floor(rng.next() * FILLER_WORDS.length)]!;
  return out.join(' ');
}

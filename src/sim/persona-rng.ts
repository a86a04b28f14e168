/**
 * Seeded randomness for personas and fault injection (sim/ imports nothing of the harness, so
 * it carries its own mulberry32). Every draw is keyed by a hash of what the request says, so the
 * same request to the same seeded server produces the same output.
 */
export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
}

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** FNV-1a of a string, 32-bit. */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mixes numbers into one seed (order matters). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export function intIn(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

/** Log-normal with the given median, clamped to [lo, hi] and rounded. */
export function logNormalInt(rng: Rng, median: number, sigma: number, lo: number, hi: number): number {
  const u1 = Math.max(rng.next(), 1e-12);
  const u2 = rng.next();
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.min(hi, Math.max(lo, Math.round(median * Math.exp(sigma * z))));
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

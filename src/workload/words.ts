import type { Rng } from '../random.js';

/**
 * Common English words that are single tokens (with their leading space) in the BPE
 * tokenizers of GPT, Llama 3 and Qwen; the simulator counts one token per word, so a prompt of
 * N words is N tokens there exactly and about N tokens on a real server.
 */
export const WORDS: readonly string[] = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have ' +
  'an had they you were their one all we can her has there been if more when will would who so no she ' +
  'other its may these about than into only some could them time two then do first any my now such like our ' +
  'over man me even most made after also did many before must through back years where much your way well ' +
  'down should because each just those people how too little state good very make world still own see men ' +
  'work long get here between both life being under never day same another know while last might us great ' +
  'old year off come since against go came right used take three'
).split(' ');

/** N space-separated words drawn from WORDS (N tokens). */
export function randomWords(rng: Rng, n: number): string {
  const out = new Array<string>(n);
  const m = WORDS.length;
  for (let i = 0; i < n; i++) out[i] = WORDS[Math.floor(rng.next() * m)]!;
  return out.join(' ');
}

/** Token estimate used for text we did not generate: one per whitespace-separated word. */
export function countWords(text: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

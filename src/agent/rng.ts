/** Seeded randomness for task generation, pool choice and synthetic text (on src/random.ts). */
import type { Rng } from '../random.js';

export { hashString, intIn, logNormal, mixSeed, mulberry32, type Rng, shuffle } from '../random.js';

/** Common English words: one word is about one token (and exactly one for the simulator). */
const WORDS = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by ' +
  'word but not what all were we when your can said there use an each which she do how their if will up ' +
  'other about out many then them these so some her would make like him into time has look two more write ' +
  'go see number no way could people my than first water been call who oil its now find long down day did ' +
  'get come made may part order account plan line device phone bill flight seat refund return item price'
).split(' ');

export function words(rng: Rng, n: number): string {
  const out: string[] = new Array(Math.max(0, Math.round(n)));
  for (let i = 0; i < out.length; i++) out[i] = WORDS[Math.floor(rng.next() * WORDS.length)] as string;
  return out.join(' ');
}

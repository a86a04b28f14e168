import { ServelabError } from '../errors.js';
import { type Rng, standardNormal } from '../random.js';

/** A distribution of token counts. Samples are integers >= 1, clamped to [min, max] when given. */
export type LengthDist =
  | { kind: 'fixed'; value: number }
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'normal'; mean: number; std: number; min?: number; max?: number }
  | { kind: 'lognormal'; mean: number; sigma: number; min?: number; max?: number };

export function sampleLength(d: LengthDist, rng: Rng): number {
  let x: number;
  switch (d.kind) {
    case 'fixed':
      return Math.max(1, Math.round(d.value));
    case 'uniform':
      return Math.max(1, d.min + Math.floor(rng.next() * (d.max - d.min + 1)));
    case 'normal':
      x = d.mean + d.std * standardNormal(rng);
      break;
    case 'lognormal': {
      // parameterised by the distribution's mean: mu = ln(mean) - sigma^2 / 2
      const mu = Math.log(d.mean) - (d.sigma * d.sigma) / 2;
      x = Math.exp(mu + d.sigma * standardNormal(rng));
      break;
    }
  }
  x = Math.round(x);
  if (d.min !== undefined) x = Math.max(d.min, x);
  if (d.max !== undefined) x = Math.min(d.max, x);
  return Math.max(1, x);
}

export function describeLength(d: LengthDist): string {
  switch (d.kind) {
    case 'fixed':
      return `fixed:${d.value}`;
    case 'uniform':
      return `uniform:${d.min}-${d.max}`;
    case 'normal':
      return `normal:${d.mean},${d.std}`;
    case 'lognormal':
      return `lognormal:${d.mean},${d.sigma}`;
  }
}

/**
 * Parses `512`, `fixed:512`, `uniform:128-1024`, `normal:512,128`, `lognormal:512,0.6`
 * (mean, sigma of the log). `flag` names the option in the error.
 */
export function parseLength(text: string, flag: string): LengthDist {
  const bad = () =>
    new ServelabError('BAD_FLAG', `${flag} "${text}" is not a length distribution`, {
      hint: 'use 512, fixed:512, uniform:128-1024, normal:MEAN,STD or lognormal:MEAN,SIGMA (token counts)',
    });
  const t = text.trim();
  const [kind, args] = t.includes(':')
    ? [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)]
    : ['fixed', t];
  const nums = (args ?? '').split(/[,-]/).map(Number);
  if (nums.some((n) => !Number.isFinite(n) || n < 0)) throw bad();
  switch (kind) {
    case 'fixed':
      if (nums.length !== 1 || nums[0]! < 1) throw bad();
      return { kind: 'fixed', value: Math.round(nums[0]!) };
    case 'uniform':
      if (nums.length !== 2 || nums[0]! < 1 || nums[1]! < nums[0]!) throw bad();
      return { kind: 'uniform', min: Math.round(nums[0]!), max: Math.round(nums[1]!) };
    case 'normal':
      if (nums.length !== 2 || nums[0]! < 1) throw bad();
      return { kind: 'normal', mean: nums[0]!, std: nums[1]! };
    case 'lognormal':
      if (nums.length !== 2 || nums[0]! < 1) throw bad();
      return { kind: 'lognormal', mean: nums[0]!, sigma: nums[1]! };
    default:
      throw bad();
  }
}

/** vLLM's random dataset: uniform in [len * (1 - r), len * (1 + r)]. */
export function rangeRatio(len: number, ratio: number): LengthDist {
  if (ratio <= 0) return { kind: 'fixed', value: len };
  return {
    kind: 'uniform',
    min: Math.max(1, Math.floor(len * (1 - ratio))),
    max: Math.ceil(len * (1 + ratio)),
  };
}

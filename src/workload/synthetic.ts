import { mulberry32, subSeed } from '../random.js';
import type { WorkloadItem } from './item.js';
import { type LengthDist, sampleLength } from './lengths.js';
import { randomWords } from './words.js';

export interface SyntheticSpec {
  count: number;
  input: LengthDist;
  output: LengthDist;
  seed: number;
  class?: string;
}

/** Synthetic prompts of exact token lengths; same spec and seed, same prompts. */
export function syntheticItems(spec: SyntheticSpec): WorkloadItem[] {
  const lenRng = mulberry32(subSeed(spec.seed, 1));
  const outRng = mulberry32(subSeed(spec.seed, 2));
  const textRng = mulberry32(subSeed(spec.seed, 3));
  const items: WorkloadItem[] = [];
  for (let i = 0; i < spec.count; i++) {
    const promptTokens = sampleLength(spec.input, lenRng);
    const outputTokens = sampleLength(spec.output, outRng);
    items.push({
      prompt: randomWords(textRng, promptTokens),
      promptTokens,
      outputTokens,
      ...(spec.class ? { class: spec.class } : {}),
    });
  }
  return items;
}

export interface PrefixSpec {
  groups: number;
  promptsPerGroup: number;
  prefixTokens: number;
  suffix: LengthDist;
  output: LengthDist;
  seed: number;
}

/**
 * Shared-prefix groups: `groups` x `promptsPerGroup` prompts; the prompts of a group start with
 * the same `prefixTokens` words (a system prompt or document), then a unique suffix. Items are
 * interleaved across groups (g0, g1, ..., g0, g1, ...) as a multi-tenant server sees them.
 */
export function prefixItems(spec: PrefixSpec): WorkloadItem[] {
  const prefixRng = mulberry32(subSeed(spec.seed, 4));
  const prefixes = Array.from({ length: spec.groups }, () => randomWords(prefixRng, spec.prefixTokens));
  const lenRng = mulberry32(subSeed(spec.seed, 5));
  const outRng = mulberry32(subSeed(spec.seed, 6));
  const textRng = mulberry32(subSeed(spec.seed, 7));
  const items: WorkloadItem[] = [];
  for (let k = 0; k < spec.promptsPerGroup; k++) {
    for (let g = 0; g < spec.groups; g++) {
      const suffixTokens = sampleLength(spec.suffix, lenRng);
      items.push({
        prompt: `${prefixes[g]} ${randomWords(textRng, suffixTokens)}`,
        promptTokens: spec.prefixTokens + suffixTokens,
        outputTokens: sampleLength(spec.output, outRng),
        group: g,
      });
    }
  }
  return items;
}

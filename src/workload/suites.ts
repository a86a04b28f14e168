import { mulberry32, subSeed } from '../random.js';
import type { WorkloadItem } from './item.js';
import type { LengthDist } from './lengths.js';
import { syntheticItems } from './synthetic.js';

/** The length classes of the W3 mix (token counts). */
export const LENGTH_CLASSES: Record<'short' | 'medium' | 'long', { input: LengthDist; output: LengthDist }> =
  {
    short: { input: { kind: 'uniform', min: 64, max: 512 }, output: { kind: 'uniform', min: 32, max: 256 } },
    medium: {
      input: { kind: 'uniform', min: 512, max: 2048 },
      output: { kind: 'uniform', min: 128, max: 512 },
    },
    long: {
      input: { kind: 'uniform', min: 4096, max: 12288 },
      output: { kind: 'uniform', min: 256, max: 1024 },
    },
  };

/** The default mix: mostly short and medium prompts, some long ones. */
export const DEFAULT_MIX = { short: 0.4, medium: 0.4, long: 0.2 } as const;

export type SuiteName =
  | 'quick_test'
  | 'medium_balanced'
  | 'large_throughput'
  | 'short_latency'
  | 'long_context';

export const SUITES: Record<
  SuiteName,
  { count: number; mix: Partial<Record<keyof typeof LENGTH_CLASSES, number>> }
> = {
  quick_test: { count: 100, mix: DEFAULT_MIX },
  medium_balanced: { count: 500, mix: DEFAULT_MIX },
  large_throughput: { count: 1000, mix: DEFAULT_MIX },
  short_latency: { count: 500, mix: { short: 1 } },
  long_context: { count: 300, mix: { long: 1 } },
};

export function isSuite(name: string): name is SuiteName {
  return Object.hasOwn(SUITES, name);
}

/**
 * A length mix: each class gets round(count x share) items (the last class takes the rest),
 * then the list is shuffled with the seed so classes interleave in arrival order.
 */
export function mixItems(
  count: number,
  mix: Partial<Record<keyof typeof LENGTH_CLASSES, number>>,
  seed: number,
): WorkloadItem[] {
  const classes = (Object.keys(mix) as (keyof typeof LENGTH_CLASSES)[]).filter((c) => (mix[c] ?? 0) > 0);
  const total = classes.reduce((s, c) => s + (mix[c] ?? 0), 0);
  const items: WorkloadItem[] = [];
  let left = count;
  classes.forEach((c, k) => {
    const n = k === classes.length - 1 ? left : Math.round((count * (mix[c] ?? 0)) / total);
    left -= n;
    items.push(...syntheticItems({ count: n, ...LENGTH_CLASSES[c], seed: subSeed(seed, 100 + k), class: c }));
  });
  const rng = mulberry32(subSeed(seed, 200));
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export function suiteItems(name: SuiteName, seed: number, count?: number): WorkloadItem[] {
  const s = SUITES[name];
  return mixItems(count ?? s.count, s.mix, seed);
}

/** The workload profiles by name (`workload.generator.profile`); config/spec.ts keeps the names in step (a test checks). */
import { ServelabError } from '../../errors.js';
import { TAU2_W1 } from './tau2-w1.js';
import type { WorkloadProfile } from './types.js';

export type { ProfileDomain, WorkloadProfile } from './types.js';

export const WORKLOAD_PROFILES: Record<string, WorkloadProfile> = { [TAU2_W1.name]: TAU2_W1 };

export function workloadProfile(name: string): WorkloadProfile {
  const p = WORKLOAD_PROFILES[name];
  if (!p)
    throw new ServelabError('BAD_CONFIG', `unknown workload profile "${name}"`, {
      hint: `known: ${Object.keys(WORKLOAD_PROFILES).join(', ')}; or leave workload.generator.profile out for the plain tau2-like generator`,
    });
  return p;
}

/** The profile's expertOutputTokens key for an expert: by its model id, else by its name (W1's mapping). */
export function expertKey(p: WorkloadProfile, expert: string, model: string | undefined): string {
  // "Qwen/Qwen3-32B-FP8" and "qwen3-32b" both name the key "Qwen3-32B-FP8"
  const norm = (s: string) => s.toLowerCase().replace(/^.*\//, '').replace(/-fp8$/, '');
  if (model) {
    const m = norm(model);
    const hit = Object.keys(p.expertOutputTokens).find((k) => m.startsWith(norm(k)));
    if (hit) return hit;
  }
  return p.expertByName[expert] ?? p.expertFallback;
}

/**
 * The users' endpoint config (WORKFLOWS.md W1): one list of replicas per model name, ports as
 * STRINGS, plus `oss_expert_mapping` (expert name -> model) and other non-model keys that are
 * ignored. The same shape is accepted inside a spec as YAML (ports as strings or numbers).
 */
import { z } from 'zod';
import { HOST_HINT, parseHost } from '../host.js';
import type { Endpoint } from '../loadgen/transport.js';
import { BOUNDS } from './bounds.js';

const portSchema = z.unknown().transform((v, ctx) => {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  ctx.addIssue({ code: 'custom', message: `a port 1-65535 like "1900", got ${JSON.stringify(v)}` });
  return z.NEVER;
});

export const replicaSchema = z.strictObject({
  ip_addr: z.string().transform((v, ctx) => {
    const host = parseHost(v);
    if (host !== undefined) return host;
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a host: give ${HOST_HINT}` });
    return z.NEVER;
  }),
  port: portSchema,
  /** optional scheme override (default http) */
  scheme: z.enum(['http', 'https']).optional(),
});

/** Keys of the users' file that are not model names. */
const NON_MODEL_KEYS = new Set(['oss_expert_mapping', 'vllm_model_config_path']);

type Replica = { host: string; port: number; scheme: 'http' | 'https' };

/**
 * One pass that validates and builds (a refinement followed by a transform would run the
 * transform on invalid input, and its parse error escaped as a raw issue array).
 */
export const modelConfigSchema = z.record(z.string(), z.unknown()).transform((obj, ctx) => {
  const models: Record<string, Replica[]> = {};
  let experts: Record<string, string> = {};
  let bad = false;
  const issue = (path: PropertyKey[], message: string) => {
    bad = true;
    ctx.addIssue({ code: 'custom', path, message });
  };
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'oss_expert_mapping') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        issue([key], 'must map expert names to model names');
        continue;
      }
      for (const [expert, model] of Object.entries(value as Record<string, unknown>))
        if (typeof model !== 'string')
          issue([key, expert], `expected a model name (string), got ${JSON.stringify(model)}`);
      experts = value as Record<string, string>;
      continue;
    }
    if (NON_MODEL_KEYS.has(key) || !Array.isArray(value)) continue;
    const r = z
      .array(replicaSchema)
      .min(1, 'a model needs at least one replica {"ip_addr", "port"}')
      .max(BOUNDS.listLength, `at most ${BOUNDS.listLength} replicas`)
      .safeParse(value);
    if (!r.success) {
      for (const i of r.error.issues) {
        const path = [key, ...(i.path as PropertyKey[])];
        if (i.code === 'unrecognized_keys')
          for (const k of i.keys) {
            bad = true;
            // kept as unrecognized_keys so a spec's loader points at the key itself
            ctx.addIssue({
              code: 'unrecognized_keys',
              keys: [k],
              path: [...path, k],
              message: `unknown key "${k}" (a replica has ip_addr, port and optionally scheme)`,
            });
          }
        else issue(path, i.message);
      }
      continue;
    }
    models[key] = r.data.map((x) => ({ host: x.ip_addr, port: x.port, scheme: x.scheme ?? 'http' }));
  }
  if (bad) return z.NEVER;
  return { models, experts };
});

export type ModelConfig = z.output<typeof modelConfigSchema>;

/** Endpoints per model name, with base URLs ending in /v1 and labels "host:port". */
export function endpointsOf(cfg: ModelConfig): Map<string, Endpoint[]> {
  const out = new Map<string, Endpoint[]>();
  for (const [model, reps] of Object.entries(cfg.models)) {
    out.set(
      model,
      reps.map((r) => ({
        baseUrl: `${r.scheme}://${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}/v1`,
        model,
        label: `${r.host}:${r.port}`,
      })),
    );
  }
  return out;
}

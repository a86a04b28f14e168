/**
 * The users' endpoint config (WORKFLOWS.md W1): one list of replicas per model name, ports as
 * STRINGS, plus `oss_expert_mapping` (expert name -> model) and other non-model keys that are
 * ignored. The same shape is accepted inside a spec as YAML (ports as strings or numbers).
 */
import { z } from 'zod';
import type { Endpoint } from '../loadgen/transport.js';

const portSchema = z.unknown().transform((v, ctx) => {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  ctx.addIssue({ code: 'custom', message: `a port 1-65535 like "1900", got ${JSON.stringify(v)}` });
  return z.NEVER;
});

export const replicaSchema = z.strictObject({
  ip_addr: z.string().trim().min(1),
  port: portSchema,
  /** optional scheme override (default http) */
  scheme: z.enum(['http', 'https']).optional(),
});

/** Keys of the users' file that are not model names. */
const NON_MODEL_KEYS = new Set(['oss_expert_mapping', 'vllm_model_config_path']);

export const modelConfigSchema = z
  .record(z.string(), z.unknown())
  .superRefine((obj, ctx) => {
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'oss_expert_mapping') {
        if (!value || typeof value !== 'object' || Array.isArray(value))
          ctx.addIssue({ code: 'custom', path: [key], message: 'must map expert names to model names' });
        else
          for (const [expert, model] of Object.entries(value as Record<string, unknown>))
            if (typeof model !== 'string')
              ctx.addIssue({
                code: 'custom',
                path: [key, expert],
                message: `expected a model name (string), got ${JSON.stringify(model)}`,
              });
        continue;
      }
      if (NON_MODEL_KEYS.has(key) || !Array.isArray(value)) continue;
      const r = z.array(replicaSchema).min(1).safeParse(value);
      if (!r.success) {
        for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] } as never);
      }
    }
  })
  .transform((obj) => {
    const models: Record<string, { host: string; port: number; scheme: 'http' | 'https' }[]> = {};
    let experts: Record<string, string> = {};
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'oss_expert_mapping') experts = value as Record<string, string>;
      else if (!NON_MODEL_KEYS.has(key) && Array.isArray(value)) {
        models[key] = z
          .array(replicaSchema)
          .parse(value)
          .map((r) => ({ host: r.ip_addr, port: r.port, scheme: r.scheme ?? 'http' }));
      }
    }
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

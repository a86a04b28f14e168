/**
 * The users' endpoint config (WORKFLOWS.md W1): model name -> list of replicas
 * `{ip_addr, port}` with ports as STRINGS, plus the non-model keys `oss_expert_mapping`
 * (expert name -> model name) and `vllm_model_config_path`. All problems are reported at once,
 * JSON syntax errors with line:col. Preflight's reading adds roles (orchestrator / expert) and
 * notes on top of the one validating schema in src/config/model-config.ts.
 */
import { parseDocument } from 'yaml';
import { endpointsOf, modelConfigSchema } from '../config/model-config.js';
import { ServelabError } from '../errors.js';

export interface ModelConfigEndpoint {
  /** the model name as the config (and the server) calls it */
  model: string;
  host: string;
  port: number;
  /** http://host:port */
  url: string;
  /** replica index within the model's list */
  replica: number;
  /** orchestrator: a model that no expert maps to, when the config has an expert mapping */
  role: 'orchestrator' | 'expert' | 'model';
  /** expert names mapped to this model ("expert-1") */
  experts: string[];
}

export interface ModelConfig {
  endpoints: ModelConfigEndpoint[];
  models: string[];
  expertMapping: Record<string, string>;
  vllmModelConfigPath?: string;
  /** top-level keys that are neither models nor known keys (kept, not used) */
  ignoredKeys: string[];
  /** warnings: an expert mapped to a model the config does not list, ... */
  notes: string[];
}

const RESERVED = new Set(['oss_expert_mapping', 'vllm_model_config_path']);

/** `"model"[0].port` for model lists, `oss_expert_mapping.e` for the known keys. */
function issuePath(path: readonly PropertyKey[]): string {
  return path
    .map((k, i) =>
      typeof k === 'number'
        ? `[${k}]`
        : i === 0
          ? RESERVED.has(String(k))
            ? String(k)
            : `"${String(k)}"`
          : `.${String(k)}`,
    )
    .join('');
}

function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${line}:${col}`;
}

/** Parses the config text; `source` names the file in messages. Throws BAD_CONFIG with every problem. */
export function parseModelConfig(text: string, source = 'model config'): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // V8 names a position for most errors; for the others YAML (a superset of JSON) locates it
    const m = /position (\d+)/.exec((err as Error).message);
    const yamlPos = m ? undefined : parseDocument(text).errors[0]?.linePos?.[0];
    const where = m
      ? `${source}:${lineCol(text, Number(m[1]))}`
      : yamlPos
        ? `${source}:${yamlPos.line}:${yamlPos.col}`
        : source;
    throw new ServelabError('BAD_CONFIG', `${where}: not valid JSON (${(err as Error).message})`, {
      hint: 'the file must be one JSON object: {"model name": [{"ip_addr": "127.0.0.1", "port": "1900"}], ...}',
    });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ServelabError('BAD_CONFIG', `${source}: expected a JSON object of model name -> replicas`);
  const obj = raw as Record<string, unknown>;
  // validation lives in one place: the experiment's schema (src/config/model-config.ts)
  const parsed = modelConfigSchema.safeParse(obj);
  const errors = parsed.success ? [] : parsed.error.issues.map((i) => `${issuePath(i.path)}: ${i.message}`);
  const models = parsed.success ? Object.keys(parsed.data.models) : [];
  if (parsed.success && models.length === 0)
    errors.push('no model lists: expected "model name": [{"ip_addr": ..., "port": "..."}]');
  if (errors.length > 0)
    throw new ServelabError(
      'BAD_CONFIG',
      `${source}: ${errors.length} problem(s):\n  ${errors.join('\n  ')}`,
      {
        hint: 'ports may be strings ("1900") or integers; every model maps to a non-empty list of {"ip_addr", "port"}',
      },
    );
  const { experts: expertMapping } = parsed.data!;
  const ignoredKeys = Object.keys(obj).filter((k) => !RESERVED.has(k) && !Array.isArray(obj[k]));
  const vllmModelConfigPath =
    typeof obj.vllm_model_config_path === 'string' ? obj.vllm_model_config_path : undefined;
  const mappedModels = new Set(Object.values(expertMapping));
  const hasMapping = Object.keys(expertMapping).length > 0;
  const urls = endpointsOf(parsed.data!);
  const endpoints: ModelConfigEndpoint[] = [];
  for (const model of models) {
    const experts = Object.entries(expertMapping)
      .filter(([, m]) => m === model)
      .map(([e]) => e);
    parsed.data!.models[model]!.forEach((r, i) => {
      endpoints.push({
        model,
        host: r.host,
        port: r.port,
        url: urls.get(model)![i]!.baseUrl.replace(/\/v1$/, ''),
        replica: i,
        role: !hasMapping ? 'model' : mappedModels.has(model) ? 'expert' : 'orchestrator',
        experts,
      });
    });
  }
  const notes: string[] = [];
  for (const [expert, model] of Object.entries(expertMapping))
    if (!models.includes(model))
      notes.push(`${expert} maps to "${model}", which has no replicas in this config`);
  if (ignoredKeys.length > 0) notes.push(`keys ignored (not model lists): ${ignoredKeys.join(', ')}`);
  return {
    endpoints,
    models,
    expertMapping,
    ...(vllmModelConfigPath !== undefined ? { vllmModelConfigPath } : {}),
    ignoredKeys,
    notes,
  };
}

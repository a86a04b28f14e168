/**
 * The users' endpoint config (WORKFLOWS.md W1): model name -> list of replicas
 * `{ip_addr, port}` with ports as STRINGS, plus the non-model keys `oss_expert_mapping`
 * (expert name -> model name) and `vllm_model_config_path`. All problems are reported at once,
 * JSON syntax errors with line:col. Preflight's reading adds roles (orchestrator / expert) and
 * notes; src/config/model-config.ts (the experiment's reading, zod) accepts the same files: a
 * test holds the two to the same endpoints.
 */
import { parseDocument } from 'yaml';
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
  const errors: string[] = [];
  const notes: string[] = [];
  const ignoredKeys: string[] = [];
  const expertMapping: Record<string, string> = {};
  let vllmModelConfigPath: string | undefined;

  const mapping = obj.oss_expert_mapping;
  if (mapping !== undefined) {
    if (!mapping || typeof mapping !== 'object' || Array.isArray(mapping))
      errors.push('oss_expert_mapping: expected an object of expert name -> model name');
    else
      for (const [k, v] of Object.entries(mapping as Record<string, unknown>)) {
        if (typeof v === 'string') expertMapping[k] = v;
        else errors.push(`oss_expert_mapping.${k}: expected a model name (string), got ${JSON.stringify(v)}`);
      }
  }
  if (obj.vllm_model_config_path !== undefined) {
    if (typeof obj.vllm_model_config_path === 'string') vllmModelConfigPath = obj.vllm_model_config_path;
    else errors.push('vllm_model_config_path: expected a string');
  }

  const models: string[] = [];
  const endpoints: ModelConfigEndpoint[] = [];
  const mappedModels = new Set(Object.values(expertMapping));
  const hasMapping = Object.keys(expertMapping).length > 0;
  for (const [key, value] of Object.entries(obj)) {
    if (RESERVED.has(key)) continue;
    if (!Array.isArray(value)) {
      ignoredKeys.push(key);
      continue;
    }
    models.push(key);
    if (value.length === 0) errors.push(`"${key}": an empty replica list`);
    value.forEach((rep, i) => {
      const at = `"${key}"[${i}]`;
      if (!rep || typeof rep !== 'object' || Array.isArray(rep)) {
        errors.push(`${at}: expected {"ip_addr": ..., "port": ...}`);
        return;
      }
      const r = rep as Record<string, unknown>;
      const host = r.ip_addr;
      if (typeof host !== 'string' || host.trim() === '')
        errors.push(`${at}.ip_addr: expected a host or IP string`);
      const p = r.port;
      let port = Number.NaN;
      if (typeof p === 'string' && /^\s*\d+\s*$/.test(p)) port = Number(p);
      else if (typeof p === 'number' && Number.isInteger(p)) port = p;
      if (!(port >= 1 && port <= 65535))
        errors.push(`${at}.port: expected a port 1-65535 (a string like "1900"), got ${JSON.stringify(p)}`);
      const scheme = r.scheme ?? 'http';
      if (scheme !== 'http' && scheme !== 'https') errors.push(`${at}.scheme: expected "http" or "https"`);
      if (typeof host === 'string' && host.trim() !== '' && port >= 1 && port <= 65535) {
        const h = host.trim();
        const experts = Object.entries(expertMapping)
          .filter(([, m]) => m === key)
          .map(([e]) => e);
        endpoints.push({
          model: key,
          host: h,
          port,
          url: `${scheme === 'https' ? 'https' : 'http'}://${h.includes(':') ? `[${h}]` : h}:${port}`,
          replica: i,
          role: !hasMapping ? 'model' : mappedModels.has(key) ? 'expert' : 'orchestrator',
          experts,
        });
      }
    });
  }
  for (const [expert, model] of Object.entries(expertMapping))
    if (!models.includes(model))
      notes.push(`${expert} maps to "${model}", which has no replicas in this config`);
  if (ignoredKeys.length > 0) notes.push(`keys ignored (not model lists): ${ignoredKeys.join(', ')}`);
  if (models.length === 0)
    errors.push('no model lists: expected "model name": [{"ip_addr": ..., "port": "..."}]');
  if (errors.length > 0)
    throw new ServelabError(
      'BAD_CONFIG',
      `${source}: ${errors.length} problem(s):\n  ${errors.join('\n  ')}`,
      {
        hint: 'ports may be strings ("1900") or integers; every model maps to a list of replicas',
      },
    );
  return {
    endpoints,
    models,
    expertMapping,
    ...(vllmModelConfigPath !== undefined ? { vllmModelConfigPath } : {}),
    ignoredKeys,
    notes,
  };
}

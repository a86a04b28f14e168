/**
 * Flag values shared by `scrape`, `check` and `monitor`: durations ("5s", "100ms", "10m") and
 * the endpoint list from repeated --url flags or the users' model-config JSON.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BOUNDS } from '../config/bounds.js';
import { parseUrlFlag } from '../config/host.js';
import { ServelabError } from '../errors.js';
import { type ModelConfig, parseModelConfig } from './model-config.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * "5s", "100ms", "1.5m", "2h", or a bare number of seconds; more than 0 (0 too with `zero`)
 * and at most BOUNDS.durationS (7 days), so no timer is handed a value it cannot hold.
 */
export function parseDurationMs(
  text: string,
  flag: string,
  opts: { zero?: boolean; maxMs?: number } = {},
): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m)
    throw new ServelabError('BAD_FLAG', `${flag} "${text}" is not a duration`, {
      hint: 'give e.g. 100ms, 5s, 10m or 2h (a bare number is seconds)',
    });
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  const maxMs = opts.maxMs ?? BOUNDS.durationS * 1000;
  if ((ms === 0 && !opts.zero) || ms > maxMs)
    throw new ServelabError(
      'BAD_FLAG',
      `${flag} "${text}" is out of range: give a duration ${opts.zero ? 'from 0' : 'above 0'} up to ${maxMs / 1000} s${opts.maxMs === undefined ? ' (7 days)' : ''}`,
      { hint: 'e.g. 100ms, 5s, 10m or 2h' },
    );
  return ms;
}

export interface FlagEndpoint {
  url: string;
  port: number;
  label: string;
  model?: string;
  tools?: boolean;
}

export function loadModelConfigFile(path: string, cwd: string): ModelConfig {
  const full = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (cause) {
    throw new ServelabError('NOT_FOUND', `cannot read --config ${path}`, { cause });
  }
  return parseModelConfig(text, path);
}

/**
 * Endpoints from `--url` (repeatable) and/or `--config`; `models` keeps only those config
 * models. With a config that has an expert mapping, the orchestrator is expected to make tool calls.
 */
export function endpointsFromFlags(
  f: { url?: string[]; config?: string; model?: string[]; tools?: boolean },
  cwd: string,
): { endpoints: FlagEndpoint[]; notes: string[] } {
  const endpoints: FlagEndpoint[] = [];
  const notes: string[] = [];
  for (const raw of f.url ?? []) {
    const u = parseUrlFlag(raw, '--url');
    const url = raw.includes('://') ? raw.trim() : `http://${raw.trim()}`;
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    const host = u.hostname;
    endpoints.push({
      url,
      port,
      label: `${host}:${port}`,
      ...(f.model && f.model.length === 1 ? { model: f.model[0] } : {}),
      ...(f.tools ? { tools: true } : {}),
    });
  }
  if (f.config) {
    const cfg = loadModelConfigFile(f.config, cwd);
    notes.push(...cfg.notes);
    const keep = (m: string) =>
      !f.model || f.model.length === 0 || (f.url?.length ?? 0) > 0 || f.model.includes(m);
    for (const e of cfg.endpoints.filter((x) => keep(x.model)))
      endpoints.push({
        url: e.url,
        port: e.port,
        label: `${e.host}:${e.port}`,
        model: e.model,
        tools: e.role === 'orchestrator' || Boolean(f.tools),
      });
  }
  if (endpoints.length === 0)
    throw new ServelabError(
      'BAD_FLAG',
      'no endpoints: give --url (repeatable) or --config model-config.json',
    );
  return { endpoints, notes };
}

/** Comma- or repeat-separated lists: ["a,b", "c"] -> ["a", "b", "c"]. */
export function splitList(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

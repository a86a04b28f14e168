/**
 * Loads a spec from YAML: every schema error at once, each with file:line:col taken from the
 * YAML node its path points at (or the nearest parent that exists).
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  type Document,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  visit,
  type YAMLMap,
} from 'yaml';
import type { z } from 'zod';
import { ServelabError } from '../errors.js';
import { type ModelConfig, modelConfigSchema } from './model-config.js';
import { type Spec, specSchema } from './spec.js';

export interface SpecIssue {
  line: number;
  col: number;
  path: string;
  message: string;
}

/** Pairs of a YAML map by key, built once per map: finding a key is O(1), not a scan per issue. */
const pairIndex = new WeakMap<YAMLMap, Map<unknown, Pair>>();

function keyValue(p: Pair): unknown {
  return isScalar(p.key) ? p.key.value : p.key;
}

function pairOf(map: YAMLMap, key: PropertyKey): Pair | undefined {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items as Pair[]) {
      const k = keyValue(p);
      if (!index.has(k)) index.set(k, p);
      // a YAML key 1 and a path segment "1" are the same key of the JS object
      if (typeof k === 'number' && !index.has(String(k))) index.set(String(k), p);
    }
    pairIndex.set(map, index);
  }
  return index.get(key);
}

/**
 * The node a schema path points at, or the nearest parent that exists. With `atKey`, the last
 * segment is taken as a key of a map and its KEY node is returned (an unknown key is reported
 * where it is written, not at its value or its parent).
 */
function nodeAt(
  root: unknown,
  path: readonly PropertyKey[],
  atKey = false,
): { node: Node | undefined; depth: number } {
  let cur: unknown = root;
  let best: Node | undefined = isNode(root) ? root : undefined;
  let depth = 0;
  for (const [i, key] of path.entries()) {
    if (isMap(cur)) {
      const pair = pairOf(cur, key);
      if (!pair) break;
      if (atKey && i === path.length - 1 && isNode(pair.key)) {
        best = pair.key;
        depth++;
        break;
      }
      // a missing value points at its key
      cur = pair.value ?? pair.key;
      if (isNode(pair.value)) best = pair.value;
      else if (isNode(pair.key)) best = pair.key;
    } else if (isSeq(cur) && typeof key === 'number') {
      const item = cur.items[key];
      if (!isNode(item)) break;
      cur = item;
      best = item;
    } else break;
    depth++;
  }
  return { node: best, depth };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

/**
 * Duplicate keys, in one pass with a set per map. (yaml's own uniqueKeys check compares each
 * new key with every earlier one: quadratic, 40k keys took 7.5 s.)
 */
function duplicateKeyIssues(doc: Document, lc: LineCounter): SpecIssue[] {
  const out: SpecIssue[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const p of map.items) {
        const k = keyValue(p);
        const id = isNode(k) ? String(k) : k;
        if (seen.has(id)) {
          const pos = isNode(p.key) && p.key.range ? lc.linePos(p.key.range[0]) : { line: 1, col: 1 };
          out.push({ ...pos, path: '', message: `duplicate key "${String(id)}" (map keys must be unique)` });
        }
        seen.add(id);
      }
    },
  });
  return out;
}

const byPosition = (a: SpecIssue, b: SpecIssue) => a.line - b.line || a.col - b.col;

/** Parses YAML text into a validated spec, or returns every issue with its line and column. */
export function parseSpecText(
  text: string,
): { ok: true; spec: Spec; raw: unknown } | { ok: false; issues: SpecIssue[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { line: pos.line, col: pos.col, path: '', message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  const dups = duplicateKeyIssues(doc, lc);
  if (dups.length > 0) return { ok: false, issues: dups.sort(byPosition) };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml refuses alias expansions past maxAliasCount (a "billion laughs" document)
    return {
      ok: false,
      issues: [
        {
          line: 1,
          col: 1,
          path: '',
          message: `YAML aliases expand too far (${(err as Error).message}); write the values out instead of nesting aliases (*name) more than ${MAX_ALIAS_COUNT} times`,
        },
      ],
    };
  }
  const r = specSchema.safeParse(raw);
  if (r.success) return { ok: true, spec: r.data, raw };
  const issues = issuesWithPositions(r.error, doc.contents, lc);
  // cross-references are checked even when other parts fail, so every error shows at once
  for (const x of crossReferenceIssues(raw)) {
    const { node } = nodeAt(doc.contents, x.path);
    const pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
    const path = formatPath(x.path);
    if (!issues.some((i) => i.path === path))
      issues.push({ line: pos.line, col: pos.col, path, message: x.message });
  }
  return { ok: false, issues: issues.sort(byPosition) };
}

/** yaml's default: an alias may be expanded this many times in one document. */
const MAX_ALIAS_COUNT = 100;

function crossReferenceIssues(raw: unknown): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  const spec = raw as { servers?: unknown; arms?: unknown };
  const servers = spec?.servers && typeof spec.servers === 'object' ? Object.keys(spec.servers) : [];
  if (!Array.isArray(spec?.arms)) return out;
  spec.arms.forEach((arm: unknown, i: number) => {
    const name = (arm as { servers?: unknown })?.servers;
    if (typeof name === 'string' && !servers.includes(name)) {
      out.push({
        path: ['arms', i, 'servers'],
        message: `unknown servers "${name}" (known: ${servers.join(', ') || 'none'})`,
      });
    }
  });
  return out;
}

function issuesWithPositions(err: z.ZodError, root: unknown, lc: LineCounter): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const issue of err.issues) {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      // zod names the parent object; each key is reported where it is written
      const parent = issue.keys.length === 1 && path.at(-1) === issue.keys[0] ? path.slice(0, -1) : path;
      for (const key of issue.keys) {
        const { node } = nodeAt(root, [...parent, key], true);
        const pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
        const message = issue.message.startsWith('unknown key') ? issue.message : `unknown key "${key}"`;
        out.push({ line: pos.line, col: pos.col, path: formatPath([...parent, key]), message });
      }
      continue;
    }
    const { node, depth } = nodeAt(root, path);
    const pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
    let message = issue.message;
    if (depth < path.length && issue.code === 'invalid_type') message = `missing: ${message}`;
    out.push({ line: pos.line, col: pos.col, path: formatPath(path), message });
  }
  return out.sort(byPosition);
}

/** Issues printed for one file; the rest are counted (a generated file can have 100k). */
const MAX_ISSUES_SHOWN = 50;

export function formatIssues(file: string, issues: SpecIssue[]): string {
  const lines = issues
    .slice(0, MAX_ISSUES_SHOWN)
    .map((i) => `${file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`);
  if (issues.length > MAX_ISSUES_SHOWN) lines.push(`... and ${issues.length - MAX_ISSUES_SHOWN} more`);
  return lines.join('\n');
}

export interface LoadedSpec {
  spec: Spec;
  /** the file's directory: relative paths in the spec resolve against it */
  baseDir: string;
  file: string;
}

export function loadSpecFile(file: string): LoadedSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ServelabError('BAD_FILE', `cannot read spec "${file}": ${(err as Error).message}`, {
      hint: 'pass the path of a spec YAML file, e.g. examples/agentic-quickstart.yaml (relative to the current directory)',
      cause: err,
    });
  }
  const r = parseSpecText(text);
  if (!r.ok) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${r.issues.length} error(s) in spec:\n${formatIssues(file, r.issues)}`,
      {
        hint: 'fix every line above; see examples/agentic-quickstart.yaml',
      },
    );
  }
  return { spec: r.spec, baseDir: dirname(resolve(file)), file };
}

/** Reads the users' model-config JSON (string ports), with every error named. */
export function loadModelConfigFile(file: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ServelabError('BAD_FILE', `cannot read model config "${file}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseModelConfig(raw, file);
}

export function parseModelConfig(raw: unknown, where: string): ModelConfig {
  const r = modelConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${where}: ${formatPath(i.path as PropertyKey[])}: ${i.message}`);
    throw new ServelabError('BAD_CONFIG', `${lines.length} error(s) in model config:\n${lines.join('\n')}`, {
      hint: 'each model maps to [{"ip_addr": "127.0.0.1", "port": "1900"}, ...]',
    });
  }
  return r.data;
}

/**
 * The files a spec names (task file, replay trace, topology and endpoint files, a --replay
 * override) exist and are files. `run --dry-run` and `run` both check them before anything
 * starts, so a typo is an error at once, not a failed cell (or a dry run that exits 0).
 */
export function checkSpecFiles(loaded: LoadedSpec, opts: { replay?: string } = {}): void {
  const { spec, baseDir } = loaded;
  const named: { what: string; path: string }[] = [];
  if (opts.replay) named.push({ what: '--replay', path: resolve(opts.replay) });
  else if (spec.workload.replay)
    named.push({ what: 'workload.replay', path: resolve(baseDir, spec.workload.replay) });
  if (spec.workload.tasks)
    named.push({ what: 'workload.tasks', path: resolve(baseDir, spec.workload.tasks) });
  for (const [name, s] of Object.entries(spec.servers)) {
    if (s.kind === 'sim' && typeof s.topology === 'string')
      named.push({ what: `servers.${name}.topology`, path: resolve(baseDir, s.topology) });
    if ((s.kind === 'external' || s.kind === 'command') && typeof s.endpoints === 'string')
      named.push({ what: `servers.${name}.endpoints`, path: resolve(baseDir, s.endpoints) });
  }
  const missing = named.filter((n) => {
    try {
      return !statSync(n.path).isFile();
    } catch {
      return true;
    }
  });
  if (missing.length > 0)
    throw new ServelabError(
      'BAD_FILE',
      `${loaded.file}: ${missing.length} file(s) not found:\n${missing.map((m) => `  ${m.what}: ${m.path}`).join('\n')}`,
      {
        hint: "paths in a spec resolve against the spec file's directory; --replay against the current directory",
      },
    );
}

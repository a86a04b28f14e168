/**
 * Loads a spec from YAML: every schema error at once, each with file:line:col taken from the
 * YAML node its path points at (or the nearest parent that exists).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
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

function nodeAt(root: unknown, path: readonly PropertyKey[]): { node: Node | undefined; depth: number } {
  let cur: unknown = root;
  let best: Node | undefined = isNode(root) ? root : undefined;
  let depth = 0;
  for (const key of path) {
    if (isMap(cur)) {
      const pair = cur.items.find(
        (p) => (isNode(p.key) ? (p.key as { value?: unknown }).value : p.key) === key,
      );
      if (!pair) break;
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

/** Parses YAML text into a validated spec, or returns every issue with its line and column. */
export function parseSpecText(
  text: string,
): { ok: true; spec: Spec; raw: unknown } | { ok: false; issues: SpecIssue[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { line: pos.line, col: pos.col, path: '', message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  const raw = doc.toJS();
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
  return { ok: false, issues: issues.sort((a, b) => a.line - b.line || a.col - b.col) };
}

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
    const { node, depth } = nodeAt(root, path);
    const pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
    let message = issue.message;
    if (depth < path.length && issue.code === 'invalid_type') message = `missing: ${message}`;
    out.push({ line: pos.line, col: pos.col, path: formatPath(path), message });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

export function formatIssues(file: string, issues: SpecIssue[]): string {
  return issues
    .map((i) => `${file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`)
    .join('\n');
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

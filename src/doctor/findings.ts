/**
 * A doctor finding: what is wrong (or worth knowing), where, why it matters and the fix. Plain
 * data; the checks return them, the renderer prints them, the CLI picks the exit code from them.
 */

export type Severity = 'error' | 'warning' | 'info';

export type CheckId =
  | 'tool-parser'
  | 'vllm-version'
  | 'spec-decode'
  | 'compile-cache'
  | 'cache-wipe'
  | 'log-file'
  | 'arms-differ'
  | 'stale-gpu-nodes'
  | 'model-config'
  | 'server';

export interface Finding {
  check: CheckId;
  severity: Severity;
  /** the input and the place in it: `spec.yaml: servers.baseline.processes[0] (orchestrator-1900)` */
  where: string;
  message: string;
  why: string;
  fix: string;
}

/**
 * Several places of one input in one `where`: `file: a; b` (or `file:19; 22`) rather than the
 * file name repeated.
 */
export function joinWhere(places: readonly string[]): string {
  const uniq = [...new Set(places)];
  const file = uniq[0]?.split(':')[0];
  if (file === undefined || uniq.length < 2 || !uniq.every((p) => p.startsWith(`${file}:`)))
    return uniq.join('; ');
  const rests = uniq.map((p) => p.slice(file.length + 1));
  const sep = rests.every((r) => r.startsWith(' ')) ? ': ' : ':';
  return `${file}${sep}${rests.map((r) => r.trim()).join('; ')}`;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Errors first, then warnings, then info; within a severity, in the order found. */
export function sortFindings(fs: readonly Finding[]): Finding[] {
  return fs
    .map((f, i) => ({ f, i }))
    .sort((a, b) => RANK[a.f.severity] - RANK[b.f.severity] || a.i - b.i)
    .map((x) => x.f);
}

export function countFindings(fs: readonly Finding[]): Record<Severity, number> {
  const c: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of fs) c[f.severity]++;
  return c;
}

/**
 * The exit code by the worst finding: 1 when any finding is an error (with `strict`, also a
 * warning), else 0. Info never fails.
 */
export function doctorExitCode(fs: readonly Finding[], strict = false): 0 | 1 {
  const c = countFindings(fs);
  return c.error > 0 || (strict && c.warning > 0) ? 1 : 0;
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** The text report: one block per finding, then the counts. */
export function renderFindings(inputs: readonly string[], fs: readonly Finding[]): string {
  const lines: string[] = [];
  for (const i of inputs) lines.push(`checked ${i}`);
  lines.push('');
  for (const f of sortFindings(fs)) {
    lines.push(`${f.severity.toUpperCase().padEnd(7)} [${f.check}] ${f.where}`);
    lines.push(`  ${f.message}`);
    lines.push(`  why: ${f.why}`);
    lines.push(`  fix: ${f.fix}`);
    lines.push('');
  }
  const c = countFindings(fs);
  lines.push(
    fs.length === 0
      ? 'no findings'
      : `${plural(c.error, 'error')}, ${plural(c.warning, 'warning')}, ${c.info} info`,
  );
  return `${lines.join('\n')}\n`;
}

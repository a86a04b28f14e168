import type { CheckReport, StageName, StageResult } from './check.js';

const STAGES: StageName[] = ['tcp', 'health', 'models', 'version', 'chat', 'tools'];

function cell(s: StageResult | undefined, stage: StageName): string {
  if (!s) return '-';
  if (stage === 'version') return s.status === 'ok' ? s.detail : '?';
  if (stage === 'tcp' && s.status === 'fail') return s.detail;
  if (stage === 'health' && s.status === 'fail') return s.detail;
  return s.status;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The report for a person: one row per endpoint, then the problems with their hints. */
export function renderCheckReport(rep: CheckReport): string {
  const header = ['ENDPOINT', 'MODEL', ...STAGES.map((s) => s.toUpperCase()), 'READY'];
  const rows = rep.endpoints.map((e) => [
    e.label,
    e.model ?? '?',
    ...STAGES.map((s) => cell(e.stages[s], s)),
    e.ready ? 'yes' : 'NO',
  ]);
  const out = [table([header, ...rows])];
  const w = Math.max(0, ...rep.endpoints.map((e) => e.label.length));
  const problems = rep.endpoints.flatMap((e) =>
    e.problems.map(
      (p) =>
        `  ${e.label.padEnd(w)}  ${p.severity.padEnd(5)}  ${p.message}${p.hint ? `\n  ${' '.repeat(w)}  hint:  ${p.hint}` : ''}`,
    ),
  );
  if (problems.length > 0) out.push('', 'problems:', ...problems);
  if (rep.gpu.available) {
    out.push('', 'GPUs:');
    for (const g of rep.gpu.gpus)
      out.push(
        `  GPU ${g.index}: ${g.memoryUsedMiB} / ${g.memoryTotalMiB} MiB${g.utilizationPct !== undefined ? `, ${g.utilizationPct} % busy` : ''}`,
      );
    for (const w of rep.gpu.warnings) out.push(`  warn  ${w}`);
  }
  const ready = rep.endpoints.filter((e) => e.ready).length;
  out.push(
    '',
    `${ready}/${rep.endpoints.length} endpoints ready${rep.attempts > 1 ? ` after ${rep.attempts} attempts` : ''} (${(rep.elapsedMs / 1000).toFixed(1)} s)`,
  );
  return `${out.join('\n')}\n`;
}

import { renderSvg } from './charts.js';
import { reportCharts } from './report-charts.js';
import type { ReportData } from './report-data.js';
import { reportDefinitions, reportSections, reportWarnings } from './sections.js';
import { toMarkdown } from './table.js';

/** Markdown plus one SVG file per chart, for terminal-only workflows (`report --md-dir DIR`). */
export async function renderMarkdownReport(
  data: ReportData,
): Promise<{ markdown: string; svgs: { file: string; svg: string }[] }> {
  const lines: string[] = [
    `# ${data.title}`,
    '',
    `generated ${data.generatedAt} from ${data.sources.join(', ')}`,
    '',
  ];
  const warnings = reportWarnings(data);
  if (warnings.length) {
    lines.push(`## ⚠ Read before trusting any number (${warnings.length})`, '');
    for (const w of warnings) lines.push(`- **${w.severity.toUpperCase()}** ${w.text}`);
    lines.push('');
  } else lines.push('No confound or partial-run warning was found.', '');
  const svgs: { file: string; svg: string }[] = [];
  const charts = reportCharts(data);
  if (charts.length) {
    lines.push('## Charts', '');
    for (const c of charts) {
      const file = `${c.id}.svg`;
      svgs.push({ file, svg: await renderSvg(c.spec, c.id) });
      lines.push(`### ${c.title}`, '', `![${c.title}](${file})`, '', `_${c.caption}_`, '');
    }
  }
  for (const s of reportSections(data)) {
    lines.push(`## ${s.title}`, '');
    if (s.intro) lines.push(s.intro, '');
    for (const t of s.tables) lines.push(`### ${t.caption}`, '', toMarkdown(t.table), '');
  }
  lines.push('## Definitions', '');
  for (const [k, v] of reportDefinitions(data)) lines.push(`- **${k}**: ${v}`);
  return { markdown: `${lines.join('\n')}\n`, svgs };
}

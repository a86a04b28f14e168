import { renderSvg } from './charts.js';
import { reportCharts } from './report-charts.js';
import type { ReportData } from './report-data.js';
import { reportDefinitions, reportSections, reportSetup, reportWarnings, setupLine } from './sections.js';
import { escapeHtml, toHtml } from './table.js';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#666;font-size:12px}
.warnings{border:2px solid #c0392b;background:#fdecea;padding:10px 14px;border-radius:6px}
.warnings h2{margin-top:0;border:0;color:#c0392b}.warnings li{margin:4px 0}
.sev-high{color:#a01010;font-weight:600}.sev-medium{color:#7a4a00}.sev-info{color:#555}
.ok{border:1px solid #2e7d32;background:#edf7ee;padding:8px 12px;border-radius:6px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:12.5px}th,td{border:1px solid #ddd;padding:3px 7px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.tablewrap{overflow-x:auto}.chart{margin:10px 0 22px}.chart svg{max-width:100%;height:auto}
.caption{color:#555;font-size:12px;margin:2px 0}dl dt{font-weight:600;margin-top:6px}dl dd{margin-left:16px}
`;

/**
 * One self-contained HTML file: inline CSS, inline SVG charts, no script, no external resource
 * (a Content-Security-Policy forbids any), so it opens from disk and never touches the network.
 */
export async function renderHtmlReport(data: ReportData): Promise<string> {
  const warnings = reportWarnings(data);
  const charts = reportCharts(data);
  const svgs: string[] = [];
  for (const c of charts) svgs.push(await renderSvg(c.spec, c.id));
  const parts: string[] = [];
  parts.push(
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(data.title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${escapeHtml(data.title)}</h1>`,
    `<p class="meta">generated ${escapeHtml(data.generatedAt)} from ${data.sources.map(escapeHtml).join(', ')}</p>`,
  );
  const setup = setupLine(reportSetup(data));
  // what was simulated and how, in the header: a figure of a simulated GPU is not a GPU's
  if (setup) parts.push(`<p class="meta" id="setup-line">${escapeHtml(setup)}</p>`);
  if (warnings.length) {
    parts.push(
      `<section class="warnings" id="warnings"><h2>⚠ Read before trusting any number (${warnings.length})</h2><ul>`,
    );
    for (const w of warnings)
      parts.push(`<li class="sev-${w.severity}">[${w.severity.toUpperCase()}] ${escapeHtml(w.text)}</li>`);
    parts.push('</ul></section>');
  } else parts.push('<p class="ok" id="warnings">No confound or partial-run warning was found.</p>');
  if (charts.length) {
    parts.push('<h2>Charts</h2>');
    charts.forEach((c, i) => {
      parts.push(
        `<figure class="chart" id="chart-${escapeHtml(c.id)}" data-chart="${escapeHtml(c.id)}"><h3>${escapeHtml(c.title)}</h3>${svgs[i]}<figcaption class="caption">${escapeHtml(c.caption)}</figcaption></figure>`,
      );
    });
  }
  for (const s of reportSections(data)) {
    parts.push(`<h2>${escapeHtml(s.title)}</h2>`);
    if (s.intro) parts.push(`<p>${escapeHtml(s.intro)}</p>`);
    for (const t of s.tables)
      parts.push(`<h3>${escapeHtml(t.caption)}</h3><div class="tablewrap">${toHtml(t.table)}</div>`);
  }
  parts.push('<h2 id="definitions">Definitions</h2><dl>');
  for (const [k, v] of reportDefinitions(data))
    parts.push(`<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`);
  parts.push('</dl></body></html>\n');
  return parts.join('\n');
}

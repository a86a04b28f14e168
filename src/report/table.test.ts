import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from './html.js';
import { escapeHtml, fmt, toCsv, toHtml, toMarkdown, toTerminal } from './table.js';

const t = { headers: ['a', 'b|c'], rows: [['x, "y"', '1.5']], numeric: [false, true] };

describe('table renderers', () => {
  it('Markdown escapes pipes and right-aligns numbers', () => {
    expect(toMarkdown(t)).toBe('| a | b\\|c |\n| --- | ---: |\n| x, "y" | 1.5 |');
  });
  it('CSV quotes commas and quotes', () => {
    expect(toCsv(t)).toBe('a,b|c\n"x, ""y""",1.5\n');
  });
  it('terminal pads columns', () => {
    expect(toTerminal(t).split('\n')).toEqual(['a       b|c', '------  ---', 'x, "y"  1.5']);
  });
  it('HTML escapes', () => {
    expect(toHtml(t)).toContain('<td>x, &quot;y&quot;</td><td class="num">1.5</td>');
    expect(escapeHtml('<script>&')).toBe('&lt;script&gt;&amp;');
  });
  it('formats numbers for people', () => {
    expect(fmt(3.7666)).toBe('3.77');
    expect(fmt(1234.5)).toBe('1235');
    expect(fmt(0.012345)).toBe('0.0123');
    expect(fmt(null)).toBe('-');
    expect(fmt(Number.NaN)).toBe('-');
  });
  it('an empty report still renders, says no warning was found, and has no chart', async () => {
    const html = await renderHtmlReport({
      title: 'empty <run>',
      generatedAt: '2026-01-01T00:00:00Z',
      sources: [],
      cells: [],
      comparison: null,
      bench: [],
      aggregate: null,
      notes: [],
    });
    expect(html).toContain('<title>empty &lt;run&gt;</title>');
    expect(html).toContain('No confound or partial-run warning was found.');
    expect(html).not.toContain('<figure');
    expect(html).toContain('id="definitions"');
  });
});

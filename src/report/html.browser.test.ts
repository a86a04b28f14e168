import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticBench, writeSyntheticRun } from '../analysis/testing/synthetic-run.js';
import { analyseRuns, reportData } from './build.js';
import { renderHtmlReport } from './html.js';
import { renderMarkdownReport } from './markdown.js';
import { loadRuns } from './write.js';

const CHROMIUM = '/usr/bin/chromium';
const allowMissing = process.env.SERVELAB_ALLOW_MISSING_DEPS === '1';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && allowMissing)
  console.warn(
    `SKIPPING the HTML report browser test: ${CHROMIUM} is missing (SERVELAB_ALLOW_MISSING_DEPS=1)`,
  );

let dir: string;
let htmlPath: string;
let markdown: { markdown: string; svgs: { file: string; svg: string }[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'servelab-report-'));
  const cells = [];
  for (const [arm, kv, version] of [
    ['baseline', 0.85, '0.11.0'],
    ['router', 0.8, '0.11.0'],
    ['kv-ttl', 0.97, '0.10.1'],
  ] as const)
    for (const concurrency of [4, 8])
      for (const rep of [1, 2])
        cells.push({
          arm,
          concurrency,
          rep,
          tasks: 16,
          stepsPerTask: 4,
          kvPlateau: kv,
          version,
          failEvery: arm === 'kv-ttl' ? 5 : 0,
        });
  await writeSyntheticRun(join(dir, 'agent'), cells);
  for (const [i, rate] of [1, 2, 4].entries())
    await writeSyntheticBench(join(dir, `bench-${rate}`), {
      n: 30,
      ratePerSec: rate,
      config: { max_num_batched_tokens: 4096 * (i + 1) },
      ttftBaseMs: 30 + rate * 20,
      tpotMs: 4 + i,
      seed: i + 1,
    });
  const runs = await loadRuns([
    join(dir, 'agent'),
    join(dir, 'bench-1'),
    join(dir, 'bench-2'),
    join(dir, 'bench-4'),
  ]);
  const data = reportData(analyseRuns(runs), {
    title: 'browser test',
    generatedAt: '2026-01-01T00:00:00Z',
    sources: [dir],
  });
  htmlPath = join(dir, 'report.html');
  await writeFile(htmlPath, await renderHtmlReport(data));
  markdown = await renderMarkdownReport(data);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('HTML report', () => {
  it('is self-contained: no script, no external reference', async () => {
    const html = await (await import('node:fs/promises')).readFile(htmlPath, 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="https?:/i);
    expect(html).toMatch(/Content-Security-Policy/);
    // the warnings come before any chart or table
    expect(html.indexOf('id="warnings"')).toBeLessThan(html.indexOf('<figure'));
    expect(html).toMatch(/DIFFERENT server versions/);
  });

  it('Markdown + one SVG per chart for terminal workflows', () => {
    expect(markdown.svgs.length).toBeGreaterThanOrEqual(5);
    for (const s of markdown.svgs) {
      expect(s.svg.startsWith('<svg')).toBe(true);
      expect(markdown.markdown).toContain(`](${s.file})`);
    }
    expect(markdown.markdown.indexOf('Read before trusting')).toBeLessThan(
      markdown.markdown.indexOf('## Charts'),
    );
  });

  it.skipIf(!haveChromium && allowMissing)(
    'opens in headless Chromium: no console error, no network request, every chart drawn',
    async () => {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const errors: string[] = [];
        const network: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('request', (r) => {
          if (!r.url().startsWith('file:')) network.push(r.url());
        });
        await page.goto(`file://${htmlPath}`);
        const charts = await page.$$eval('figure.chart', (figs) =>
          figs.map((f) => {
            const svg = f.querySelector('svg');
            const box = svg?.getBoundingClientRect();
            return {
              id: f.getAttribute('data-chart'),
              width: box?.width ?? 0,
              height: box?.height ?? 0,
              marks: svg
                ? svg.querySelectorAll(
                    'g.mark-line path, g.mark-symbol path, g.mark-rect path, g.mark-rule line, g.mark-rule path',
                  ).length
                : 0,
            };
          }),
        );
        const ids = charts.map((c) => c.id);
        expect(ids).toEqual(
          expect.arrayContaining([
            'throughput-okTasksPerMin',
            'throughput-okStepsPerS',
            'completion-cdf',
            'kv-baseline-c4-r1',
            'bench-latency',
            'pareto',
          ]),
        );
        expect(ids.filter((i) => i?.startsWith('kv-'))).toHaveLength(12);
        for (const c of charts) {
          expect(c.width, `${c.id} width`).toBeGreaterThan(100);
          expect(c.height, `${c.id} height`).toBeGreaterThan(50);
          expect(c.marks, `${c.id} marks`).toBeGreaterThan(0);
        }
        const firstSection = await page.$eval('h1 ~ *:not(.meta)', (e) => e.id);
        expect(firstSection).toBe('warnings');
        expect(errors).toEqual([]);
        expect(network).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});

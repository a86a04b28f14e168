import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSyntheticRun } from '../analysis/testing/synthetic-run.js';
import { analyseRuns, reportData } from './build.js';
import { reportSections } from './sections.js';
import { loadRuns } from './write.js';

async function sections(arms: string[], reps: number[]) {
  const dir = await mkdtemp(join(tmpdir(), 'servelab-sections-'));
  const cells = arms.flatMap((arm) =>
    reps.map((rep) => ({ arm, concurrency: 4, rep, tasks: 12, stepsPerTask: 3, kvPlateau: 0.85 })),
  );
  await writeSyntheticRun(dir, cells);
  const a = analyseRuns(await loadRuns([dir]));
  const cmp = reportSections(reportData(a, { title: 't', generatedAt: 'now', sources: [dir] })).find(
    (s) => s.title === 'Comparison',
  )!;
  return { intro: cmp.intro ?? '', captions: cmp.tables.map((t) => t.caption) };
}

describe('the comparison section', () => {
  it("one arm, one repetition: only the users' tables, and it says why", async () => {
    const s = await sections(['baseline'], [1]);
    expect(s.intro).toMatch(/^One arm \(baseline\) and one repetition per cell: nothing to compare/);
    expect(s.captions.every((c) => c.startsWith("The users' table"))).toBe(true);
    expect(s.captions.length).toBeGreaterThan(0);
  });

  it('repetitions give confidence intervals, several arms a comparison: the per-metric tables are shown', async () => {
    for (const [arms, reps] of [
      [['baseline'], [1, 2]],
      [['baseline', 'router'], [1]],
    ] as const) {
      const s = await sections([...arms], [...reps]);
      expect(s.intro).toMatch(/^Baseline arm: baseline\./);
      expect(s.captions.some((c) => /mean \[95 % CI\] per arm/.test(c))).toBe(true);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { type LoopCheck, probeLoop, type SelfCheckReport, saturationWarning } from './self-check.js';

const loop = (utilisation: number, delayP99Ms: number): LoopCheck => ({
  delayMeanMs: 0,
  delayP99Ms,
  delayMaxMs: delayP99Ms,
  utilisation,
});
const report = (loops: LoopCheck[], cpuCores = 0.2): SelfCheckReport => ({
  loops,
  cpuCores,
  cores: 8,
  wallS: 10,
});

describe('client self-check', () => {
  it('warns on a busy loop, a late timer or a saturated CPU, not otherwise', () => {
    expect(saturationWarning(report([loop(0.3, 2)]))).toBeUndefined();
    expect(saturationWarning(report([loop(0.9, 2)]))).toMatch(/client saturated: event loop 90 % busy/);
    expect(saturationWarning(report([loop(0.3, 25)]))).toMatch(/timer delay p99 25.0 ms/);
    expect(saturationWarning(report([loop(0.3, 2)], 0.95))).toMatch(/--workers/);
  });
  it('with workers, judges the workers (the main loop only dispatches)', () => {
    expect(saturationWarning(report([loop(0.95, 2), loop(0.2, 1), loop(0.3, 1)]))).toBeUndefined();
    expect(saturationWarning(report([loop(0.1, 1), loop(0.9, 1), loop(0.3, 1)]))).toMatch(
      /fewer streams per worker/,
    );
  });
  it('measures a blocked loop', async () => {
    const p = probeLoop();
    await new Promise((r) => setTimeout(r, 20));
    const t = performance.now();
    while (performance.now() - t < 60) {
      // block the loop on purpose
    }
    await new Promise((r) => setTimeout(r, 20));
    const l = p.stop();
    expect(l.delayMaxMs).toBeGreaterThan(30);
    expect(l.utilisation).toBeGreaterThan(0.3);
  });
});

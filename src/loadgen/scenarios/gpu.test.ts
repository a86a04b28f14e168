/**
 * GPU utilisation and memory beside a scenario's levels: a real Prometheus on loopback scrapes
 * a dcgm-exporter-shaped page (two GPUs), `servelab bench --scenario ramp --prometheus-url`
 * runs against the embedded simulator, and the GPU columns of the table and summary.json carry
 * the page's values (DCGM_FI_DEV_GPU_UTIL, DCGM_FI_DEV_FB_USED through query_range).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../../cli/main.js';
import { captureIo } from '../../cli/testing/capture-io.js';
import { EXIT } from '../../errors.js';
import { type PageServer, startPageServer } from '../../metrics/testing/page-server.js';
import { dcgmPage } from '../../metrics/testing/pages.js';
import { prometheusBin, startPrometheus, type TestPrometheus } from '../../metrics/testing/prometheus.js';

const bin = prometheusBin();
const allowMissing = process.env.SERVELAB_ALLOW_MISSING_DEPS === '1';

describe.skipIf(!bin && allowMissing)('scenario GPU figures from DCGM through a real Prometheus', () => {
  let dcgm: PageServer;
  let prom: TestPrometheus;

  beforeAll(async () => {
    if (!bin) throw new Error('prometheus not found: run scripts/ci-deps.sh (apt-get install prometheus)');
    dcgm = await startPageServer({
      page: () =>
        dcgmPage([
          { gpu: 0, uuid: 'GPU-5fd4c3a1-0d8e-4b7a-9c21-3e6f00a1b2c3', utilPct: 87, fbUsedMiB: 30512 },
          { gpu: 1, uuid: 'GPU-8a91b2c4-77e0-4f1d-a5b6-0c9d11e2f3a4', utilPct: 41, fbUsedMiB: 61024 },
        ]),
    });
    prom = await startPrometheus({ bin, jobs: { dcgm: [`127.0.0.1:${dcgm.port}`] } });
    await prom.waitFor('DCGM_FI_DEV_FB_USED');
  }, 30_000);

  afterAll(async () => {
    await prom?.close();
    await dcgm?.close();
  });

  it('ramp --prometheus-url: GPU util % and FB used MiB per level in the table and summary.json', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'servelab-gpu-')), 'run');
    const c = captureIo();
    const code = await runMain(
      [
        'bench',
        '--scenario',
        'ramp',
        '--levels',
        'c1,c2',
        '--num-prompts',
        '6',
        '--random-input-len',
        '64',
        '--random-output-len',
        '8',
        '--workers',
        '0',
        '--metrics-interval',
        '0.2',
        '--prometheus-url',
        prom.url,
        '--out',
        dir,
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    // biome-ignore lint/suspicious/noExplicitAny: summary.json read as plain JSON
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, any>;
    const levels = s.scenario.levels as { label: string; gpu?: Record<string, unknown> }[];
    expect(levels.length).toBeGreaterThanOrEqual(1);
    for (const l of levels)
      expect(l.gpu).toEqual({
        source: `${prom.url} (DCGM)`,
        gpus: 2,
        utilMeanPct: 64, // (87 + 41) / 2 at every step
        utilMaxPct: 87,
        fbUsedMaxMiB: 61024,
      });
    const out = c.out.join('');
    const head = out.split('\n').find((l) => l.startsWith('level'))!;
    expect(head).toMatch(/GPU util %\s+FB used MiB/);
    const row = out.split('\n').find((l) => l.startsWith('c=1 '))!;
    expect(row).toMatch(/\s64\s+61024\s/);
  }, 20_000);
});

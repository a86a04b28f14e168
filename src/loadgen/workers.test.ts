import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptServer, startScriptServer } from '../client/testing/sse-server.js';
import { syntheticItems } from '../workload/synthetic.js';
import type { RequestTemplate } from './requests.js';
import { runStage } from './run-stage.js';
import { autoWorkers, workerEntryPath, workersAvailable } from './workers.js';

// Worker threads run the compiled dist/ (npm test builds before vitest). Without it these tests
// cannot run; say so loudly instead of passing silently.
const haveDist = workersAvailable();
if (!haveDist)
  console.warn(
    `\n*** SKIPPING worker-thread tests: ${workerEntryPath()} is missing. Run \`npm run build\` first. ***\n`,
  );

let srv: ScriptServer;
let tpl: RequestTemplate;
const items = syntheticItems({
  count: 7,
  input: { kind: 'fixed', value: 4 },
  output: { kind: 'fixed', value: 3 },
  seed: 2,
});
beforeAll(async () => {
  srv = await startScriptServer();
  tpl = {
    endpoint: { baseUrl: srv.url, model: 'm' },
    api: 'chat',
    stream: true,
    minTokens: false,
    ignoreEos: false,
    extraHeaders: { 'x-test': JSON.stringify({ chunks: 3, gapMs: 2 }) },
  };
});
afterAll(async () => srv.close());

describe('worker-thread sharding', () => {
  it('auto picks no workers for small loads or small machines', () => {
    expect(autoWorkers(64, 16)).toBe(0);
    expect(autoWorkers(4000, 2)).toBe(0);
    expect(autoWorkers(4000, 16)).toBe(8);
    expect(autoWorkers(600, 8)).toBe(2);
  });

  it.skipIf(!haveDist)('two workers share one closed loop: every request once, cap split', async () => {
    const r = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'closed', concurrency: 4 },
      seed: 0,
      numPrompts: 20,
      warmup: 2,
      workers: 2,
    });
    expect(r.records.map((x) => x.i).sort((a, b) => a - b)).toEqual(Array.from({ length: 22 }, (_, k) => k));
    expect(r.summary.counts).toMatchObject({ measured: 20, ok: 20, warmup: 2 });
    expect(r.outcome.maxInFlight).toBeLessThanOrEqual(4);
    expect(r.summary.selfCheck?.loops).toHaveLength(3);
  });

  it.skipIf(!haveDist)('an open-loop schedule keeps its due times across workers', async () => {
    const r = await runStage({
      items,
      template: tpl,
      arrivals: { kind: 'constant', ratePerSec: 250 },
      seed: 0,
      numPrompts: 10,
      workers: 2,
    });
    const s = r.records.map((x) => x.scheduledMs).sort((a, b) => a - b);
    for (let k = 1; k < s.length; k++) expect(s[k]! - s[k - 1]!).toBeCloseTo(4, 1);
    expect(r.summary.completed).toBe(10);
  });
});

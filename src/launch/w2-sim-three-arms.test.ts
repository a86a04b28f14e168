/**
 * examples/w2-sim-three-arms.yaml end to end in virtual time through `servelab simulate`,
 * shortened (40 tasks, C = 32): the arms are genuinely different systems, visible in the records
 * and cell.json: pins only on the KV-TTL arm with the hermes parser, router pauses (and router
 * queue time in steps.jsonl) only on the router arm, the old bash-only parser pins nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';

const EXAMPLE = resolve(__dirname, '../../examples/w2-sim-three-arms.yaml');
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const lines = (p: string) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('examples/w2-sim-three-arms.yaml in virtual time (shortened)', () => {
  it('four arms, four behaviours: pins only with the KV-TTL fork’s hermes parser, pauses only behind the router', async () => {
    const spec = parse(readFileSync(EXAMPLE, 'utf8'));
    for (const s of Object.values(spec.servers) as { topology: unknown }[])
      if (typeof s.topology === 'string') s.topology = resolve(__dirname, '../../examples', s.topology);
    spec.workload.generator.count = 40;
    spec.concurrency = [32];
    const dir = mkdtempSync(join(tmpdir(), 'servelab-w2-'));
    writeFileSync(join(dir, 'w2.yaml'), stringify(spec));
    const { io, err } = captureIo({ cwd: dir });
    const code = await runMain(['simulate', 'w2.yaml'], io);
    expect(code, err.join('')).toBe(0);
    const runs = readdirSync(join(dir, 'runs'));
    expect(runs).toHaveLength(1);
    const runDir = join(dir, 'runs', runs[0]!);
    const cell = (arm: string) => {
      const d = join(runDir, arm, 'c32', 'r1');
      const c = readJson(join(d, 'cell.json'));
      const orch = c.simulation.counters.find((x: { label: string }) => x.label === 'virtual:1900');
      const steps = lines(join(d, 'steps.jsonl')).filter((s) => s.kind === 'orchestrator');
      return {
        c,
        orch,
        tasks: lines(join(d, 'tasks.jsonl')),
        queued: steps.filter((s) => (s.routerQueueMs ?? 0) > 0).length,
        summary: readJson(join(d, 'summary.json')),
      };
    };
    const base = cell('baseline');
    const router = cell('router');
    const ttl = cell('kv-ttl');
    const bash = cell('kv-ttl-bash-only');
    for (const x of [base, router, ttl, bash]) {
      expect(x.c.mode).toBe('virtual');
      expect(x.tasks).toHaveLength(40);
    }
    // KV-TTL: pins with the hermes parser, none with the old one; fcfs engines have no pin counters
    expect(ttl.orch.policy.pinsCreated).toBeGreaterThan(0);
    expect(bash.orch.policy.pinsCreated).toBe(0);
    expect(base.orch.policy).toBeUndefined();
    expect(router.orch.policy).toBeUndefined();
    expect(ttl.c.simulation.engines[0]).toMatchObject({ schedulingPolicy: 'continuum' });
    // the router: pauses, calls that waited there (steps.jsonl routerQueueMs, the time breakdown), every program released
    expect(router.c.simulation.router).toMatchObject({ mode: 'kv-threshold', programsHeld: 0 });
    expect(router.c.simulation.router.pausesTotal).toBeGreaterThan(0);
    expect(router.queued).toBeGreaterThan(0);
    expect(router.summary.time.orchestratorRouterQueue.totalS).toBeGreaterThan(0);
    for (const x of [base, ttl, bash]) {
      expect(x.c.simulation.router).toBeUndefined();
      expect(x.queued).toBe(0);
    }
    // the engine behind the router never saw program_id (the router strips it); job_id it did
    expect(router.c.orchestratorReceivedFields?.program_id).toBeUndefined();
    expect(base.c.orchestratorReceivedFields?.program_id).toBeGreaterThan(0);
  }, 300_000);
});

/**
 * `servelab bench` is a spec run by the one planner and cell runner: its flags print as a spec
 * (--print-spec) that `servelab run` runs with the same requests, each stage is a cell with its
 * own cell.json, and a spec's `workload.requests` carries every request flag bench has.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type ScriptServer, startScriptServer } from '../../client/testing/sse-server.js';
import { specSchema } from '../../config/spec.js';
import { EXIT, type ServelabError } from '../../errors.js';
import { benchArgsOf } from '../../experiment/bench-args.js';
import { planExperiment } from '../../experiment/plan.js';
import type { RequestRecord } from '../../loadgen/records.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

let srv: ScriptServer;
beforeAll(async () => {
  srv = await startScriptServer();
});
afterAll(async () => srv.close());

const records = (file: string): RequestRecord[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RequestRecord);

const SIM_FLAGS = [
  '--num-prompts',
  '6',
  '--max-concurrency',
  '2',
  '--random-input-len',
  '24',
  '--random-output-len',
  '5',
  '--random-range-ratio',
  '0.5',
  '--seed',
  '7',
  '--workers',
  '0',
  '--no-progress',
];

describe('servelab bench as a spec', () => {
  it('--print-spec prints a spec that `servelab run` runs with the very same requests', async () => {
    const root = mkdtempSync(join(tmpdir(), 'servelab-bspec-'));
    const p = captureIo({ cwd: root });
    expect(await runMain(['bench', ...SIM_FLAGS, '--print-spec'], p.io)).toBe(EXIT.ok);
    const text = p.out.join('');
    const spec = specSchema.parse(parseYaml(text));
    expect(spec.servers.bench?.kind).toBe('sim');
    expect(spec.concurrency).toEqual([2]);
    expect(spec.workload.requests).toMatchObject({
      num_prompts: 6,
      input_len: 24,
      output_len: 5,
      range_ratio: 0.5,
    });
    expect(spec.preflight.enabled).toBe(false);
    writeFileSync(join(root, 'bench.yaml'), text);

    // the bench itself
    const b = captureIo({ cwd: root });
    expect(await runMain(['bench', ...SIM_FLAGS, '--out', join(root, 'b')], b.io)).toBe(EXIT.ok);
    // its stage is a cell: launch .. teardown, recorded
    const cell = JSON.parse(readFileSync(join(root, 'b', 'stages', '0', 'cell.json'), 'utf8'));
    expect(cell).toMatchObject({ status: 'complete', phaseReached: 'teardown', arm: 'bench' });
    expect(cell.servers[0].version).toMatch(/^\d+\.\d+/);

    // the printed spec through `servelab run`
    const r = captureIo({ cwd: root });
    expect(await runMain(['run', join(root, 'bench.yaml')], r.io)).toBe(EXIT.ok);
    const runDir = r.out.join('').match(/run directory: (.+)\n/)?.[1] as string;
    const viaRun = records(join(runDir, 'bench', 'c2', 'r1', 'requests.jsonl'));
    const viaBench = records(join(root, 'b', 'requests.jsonl'));
    expect(viaRun).toHaveLength(6);
    // the same prompts and output lengths, in the same order: one definition of the workload
    const shape = (rs: RequestRecord[]) =>
      rs.map((x) => [x.i, x.promptTokens, x.outputTokens]).sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(shape(viaRun)).toEqual(shape(viaBench));
    expect(viaRun.every((x) => x.status === 'ok')).toBe(true);
  }, 120_000);

  it('a sweep: one cell per stage under stages/<k>, every record in the one requests.jsonl', async () => {
    const root = mkdtempSync(join(tmpdir(), 'servelab-bspec-'));
    const c = captureIo({ cwd: root });
    const code = await runMain(['bench', ...SIM_FLAGS, '--sweep', 'c1,c3', '--out', join(root, 'b')], c.io);
    expect(code, c.err.join('')).toBe(EXIT.ok);
    expect(readdirSync(join(root, 'b', 'stages')).sort()).toEqual(['0', '1']);
    for (const k of ['0', '1']) {
      const cell = JSON.parse(readFileSync(join(root, 'b', 'stages', k, 'cell.json'), 'utf8'));
      expect(cell.status).toBe('complete');
    }
    const recs = records(join(root, 'b', 'requests.jsonl'));
    expect(recs.filter((x) => x.stage === 0)).toHaveLength(6);
    expect(recs.filter((x) => x.stage === 1)).toHaveLength(6);
    const s = JSON.parse(readFileSync(join(root, 'b', 'summary.json'), 'utf8'));
    expect(s.stages.map((x: { arrivals: string }) => x.arrivals)).toEqual(['closed(c=1)', 'closed(c=3)']);
    // each stage's cell record names the seed its prompts were drawn with
    const cell1 = JSON.parse(readFileSync(join(root, 'b', 'stages', '1', 'cell.json'), 'utf8'));
    expect(cell1.taskSet.seed).toBe(s.stages[1].stageSeed);
    expect(s.stages[1].stageSeed).not.toBe(s.stages[0].stageSeed);
    // what /metrics said, per stage (the one probe of bench and experiment cells)
    expect(s.stages[1].server.numGpuBlocks).toBeGreaterThan(0);
  }, 120_000);

  it('--print-spec with --scenario is refused, naming both (a scenario has no fixed spec)', async () => {
    const c = captureIo();
    expect(await runMain(['bench', '--scenario', 'ramp', '--print-spec'], c.io)).toBe(EXIT.usage);
    expect(c.err.join('')).toMatch(/--print-spec and --scenario both given/);
  });

  it('--print-spec names where the key comes from, never the key or a secret header', async () => {
    const c = captureIo({ env: { MY_KEY: 'sk-never-print-me' } });
    const code = await runMain(
      [
        'bench',
        '--base-url',
        srv.url,
        '--model',
        'm',
        '--api-key-env',
        'MY_KEY',
        '--header',
        'authorization: Bearer sk-header-secret',
        '--print-spec',
      ],
      c.io,
    );
    expect(code).toBe(EXIT.ok);
    const out = c.out.join('');
    expect(out).not.toContain('sk-never-print-me');
    expect(out).not.toContain('sk-header-secret');
    const spec = specSchema.parse(parseYaml(out));
    expect(spec.workload.requests?.apiKey).toEqual({ env: 'MY_KEY' });
    expect(spec.servers.bench).toMatchObject({ kind: 'external', model: 'm' });
  });
});

describe('workload.requests: every request option of bench in a spec', () => {
  it('headers, key, extra body, temperature, percentiles, goodput and rate inf reach the server and the summary', async () => {
    const root = mkdtempSync(join(tmpdir(), 'servelab-bspec-'));
    const file = join(root, 'spec.yaml');
    writeFileSync(
      file,
      [
        'name: reqopts',
        'servers:',
        `  s: {kind: external, url: "${srv.url}", model: m}`,
        'arms: [{name: a, servers: s}]',
        'rates: [inf]',
        'workload:',
        '  requests:',
        '    api: chat',
        '    num_prompts: 4',
        '    input_len: 8',
        '    output_len: 3',
        '    max_concurrency: 2',
        '    headers: {x-test: \'{"chunks":3}\', x-team: infra}',
        '    apiKey: {env: REQ_KEY}',
        '    extra_body: {chat_template_kwargs: {enable_thinking: false}}',
        '    temperature: 0.3',
        '    percentiles: [50, 99.9]',
        '    goodput: {ttft_ms: 60000}',
        'preflight: {enabled: false}',
        '',
      ].join('\n'),
    );
    const before = srv.seen.length;
    const c = captureIo({ cwd: root, env: { REQ_KEY: 'sk-req-key' } });
    expect(await runMain(['run', file], c.io), c.err.join('')).toBe(EXIT.ok);
    // the completions (the others are the cell's GETs of /version and /metrics)
    const seen = srv.seen.slice(before).filter((q) => Array.isArray(q.body.messages));
    expect(seen).toHaveLength(4);
    for (const q of seen) {
      expect(q.headers.authorization).toBe('Bearer sk-req-key');
      expect(q.headers['x-team']).toBe('infra');
      expect(q.body.temperature).toBe(0.3);
      expect(q.body.chat_template_kwargs).toEqual({ enable_thinking: false });
    }
    const runDir = c.out.join('').match(/run directory: (.+)\n/)?.[1] as string;
    const cellDir = join(runDir, 'a', 'burst', 'r1');
    const s = JSON.parse(readFileSync(join(cellDir, 'summary.json'), 'utf8'));
    expect(s.arrivals).toBe('burst@inf/s,c<=2');
    expect(s.p99_9_ttft_ms ?? s['p99.9_ttft_ms']).toBeTypeOf('number');
    expect(s.request_goodput).toBeGreaterThan(0);
    for (const f of readdirSync(cellDir))
      if (f.endsWith('.json') || f.endsWith('.jsonl'))
        expect(readFileSync(join(cellDir, f), 'utf8')).not.toContain('sk-req-key');
  }, 60_000);

  it('num_prompts with duration_s is refused, naming both', async () => {
    const root = mkdtempSync(join(tmpdir(), 'servelab-bspec-'));
    const file = join(root, 'spec.yaml');
    writeFileSync(
      file,
      [
        'name: bad',
        'servers: {s: {kind: external, url: "http://127.0.0.1:9/v1", model: m}}',
        'arms: [{name: a, servers: s}]',
        'rates: [1]',
        'workload: {requests: {num_prompts: 4, duration_s: 10}}',
        '',
      ].join('\n'),
    );
    const c = captureIo({ cwd: root });
    expect(await runMain(['run', file, '--dry-run'], c.io)).toBe(EXIT.usage);
    expect(c.err.join('')).toMatch(/num_prompts .* or duration_s .* not both/);
  });
});

describe('a request cell as bench flags (the benchmark inside a SLURM job)', () => {
  it('benchArgsOf -> bench --print-spec gives back the same workload.requests, key for key', async () => {
    const spec = specSchema.parse({
      name: 'rt',
      servers: { s: { kind: 'external', url: 'http://127.0.0.1:9/v1', model: 'm' } },
      arms: [{ name: 'a', servers: 's' }],
      rates: [4],
      workload: {
        requests: {
          dataset: 'random',
          num_prompts: 40,
          warmup: 3,
          input_len: 300,
          output_len: 20,
          range_ratio: 0.25,
          model: 'm',
          api: 'chat',
          stream: true,
          ignore_eos: false,
          min_tokens: false,
          burstiness: 0.5,
          max_concurrency: 16,
          temperature: 0.7,
          extra_body: { chat_template_kwargs: { enable_thinking: false } },
          headers: { 'x-team': 'infra' },
          apiKey: { env: 'JOB_KEY' },
          timeoutS: 900,
          first_byte_timeout_s: 60,
          idle_timeout_s: null,
          percentiles: [50, 90, 99.9],
          goodput: { ttft_ms: 500, tpot_ms: 50 },
          workers: 2,
          max_error_rate: 0.2,
        },
      },
    });
    const cell = planExperiment(spec).cells[0]!;
    const args = benchArgsOf(cell, spec.workload.requests!, '/');
    const c = captureIo({ env: { JOB_KEY: 'sk-x' } });
    const code = await runMain(
      ['bench', '--base-url', 'http://127.0.0.1:9', '--model', 'm', ...args, '--print-spec'],
      c.io,
    );
    expect(code, c.err.join('')).toBe(EXIT.ok);
    const back = specSchema.parse(parseYaml(c.out.join('')));
    expect(back.workload.requests).toEqual(spec.workload.requests);
    expect(back.rates).toEqual([4]);
    expect(back.seed).toBe(cell.promptSeed);
  });

  it('a secret header is refused for a job script, naming the way to pass a key', () => {
    const spec = specSchema.parse({
      name: 'rt',
      servers: { s: { kind: 'external', url: 'http://127.0.0.1:9/v1', model: 'm' } },
      arms: [{ name: 'a', servers: 's' }],
      concurrency: [2],
      workload: { requests: { headers: { authorization: 'Bearer sk-inline' } } },
    });
    const cell = planExperiment(spec).cells[0]!;
    let err: ServelabError | undefined;
    try {
      benchArgsOf(cell, spec.workload.requests!, '/');
    } catch (e) {
      err = e as ServelabError;
    }
    expect(err?.message).toMatch(
      /headers.authorization: a secret header cannot be written into a SLURM job script/,
    );
    expect(err?.hint).toMatch(/apiKey: \{env: NAME\}/);
    expect(err?.message).not.toContain('sk-inline');
  });
});

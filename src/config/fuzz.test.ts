/**
 * Fuzz cases of issue 11 ("silent nonsense and crashes from values") and issue 10 (line:col of
 * unknown keys, malformed URLs), through the CLI as a user meets them: every malformed spec,
 * model-config and flag value is exit 2 with a message naming the input, never a stack trace,
 * a TypeError or a run that starts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TAU2_DOMAINS } from '../agent/taskset.js';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import { parseHost } from '../host.js';
import { parseUrlFlag } from './host.js';
import { parseSpecText } from './load.js';
import { TAU2_DOMAIN_NAMES } from './spec.js';

const dir = mkdtempSync(join(tmpdir(), 'servelab-fuzz-'));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo({ cwd: dir });
  const code = await runMain(argv, c.io);
  return { code, out: c.out.join(''), err: c.err.join('') };
}

/** No crash text: the message is ours, not the runtime's. */
function expectClean(err: string): void {
  expect(err).not.toMatch(/TypeError|ReferenceError|RangeError|Cannot read prop|ZodError|"code":|\n\s+at /);
}

const BASE = {
  name: 'fuzz',
  servers: `  s:
    kind: external
    endpoints: {"m": [{"ip_addr": "127.0.0.1", "port": "1900"}]}`,
  arms: '[{name: a, servers: s}]',
  workload: '{generator: {count: 4}}',
  agent: '{orchestrator: m}',
  concurrency: '[2]',
};
type Part = keyof typeof BASE;

/** The base spec with parts replaced and extra lines appended. */
function spec(over: Partial<Record<Part, string>> = {}, extra = ''): string {
  const p = { ...BASE, ...over };
  return `name: ${p.name}
servers:
${p.servers}
arms: ${p.arms}
workload: ${p.workload}
agent: ${p.agent}
concurrency: ${p.concurrency}
${extra}`;
}

let n = 0;
function specFile(text: string): string {
  const f = join(dir, `spec-${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

const bigList = `[${Array.from({ length: 100_000 }, () => '1').join(', ')}]`;
const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
  .concat(
    'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`),
  )
  .join('\n');

describe('malformed specs: run --dry-run exits 2 naming the field', () => {
  const cases: [string, string, RegExp][] = [
    [
      'concurrency past its bound',
      spec({ concurrency: '[99999999999]' }),
      /concurrency\[0\]: expected an integer 1-100,000/,
    ],
    ['a 100k-entry concurrency list', spec({ concurrency: bigList }), /concurrency: at most 1,000 entries/],
    [
      'count: 1e12',
      spec({ workload: '{generator: {count: 1e12}}' }),
      /workload\.generator\.count: expected an integer 1-1,000,000/,
    ],
    ['repetitions: 1e9', spec({}, 'repetitions: 1e9\n'), /repetitions: expected an integer 1-1,000/],
    [
      'maxTaskTimeS of 29 days',
      spec({}, 'limits: {maxTaskTimeS: 2500000}\n'),
      /limits\.maxTaskTimeS: at most 604,800 s/,
    ],
    [
      'callTimeoutS: 1e300',
      spec({}, 'limits: {callTimeoutS: 1e300}\n'),
      /limits\.callTimeoutS: at most 604,800 s/,
    ],
    [
      'retries.capMs past a week',
      spec({}, 'limits: {retries: {capMs: 1e12}}\n'),
      /limits\.retries\.capMs: at most/,
    ],
    ['preflight.waitS past a week', spec({}, 'preflight: {waitS: 1e9}\n'), /preflight\.waitS: at most/],
    [
      'maxTokens 1e12',
      spec({ agent: '{orchestrator: m, maxTokens: 1e12}' }),
      /agent\.maxTokens: expected an integer 1-10,000,000 \(tokens\)/,
    ],
    [
      'metrics.intervalMs 0',
      spec({}, 'metrics: {intervalMs: 0}\n'),
      /metrics\.intervalMs: expected an integer 100-/,
    ],
    [
      'too many cells',
      spec(
        { concurrency: `[${Array.from({ length: 1000 }, (_, i) => i + 1).join(',')}]` },
        'repetitions: 20\n',
      ),
      /20,000 cells/,
    ],
    [
      'userTurns min > max',
      spec({ workload: '{generator: {count: 4, overrides: {retail: {userTurns: {min: 9, max: 1}}}}}' }),
      /workload\.generator\.overrides\.retail\.userTurns: min must be <= max/,
    ],
    [
      'an unknown domain in domainSlots',
      spec({ agent: '{orchestrator: m, domainSlots: {retial: 1}}' }),
      /agent\.domainSlots\.retial: unknown domain "retial"/,
    ],
    [
      'generator.domains: [nosuchdomain]',
      spec({ workload: '{generator: {domains: [nosuchdomain]}}' }),
      /workload\.generator\.domains\[0\]: unknown domain "nosuchdomain".*overrides\.nosuchdomain\.tasks/,
    ],
    [
      'an override of a domain not generated',
      spec({ workload: '{generator: {domains: [retail], overrides: {airline: {tasks: 3}}}}' }),
      /overrides\.airline: domain "airline" is not generated/,
    ],
    [
      'a toolLatencyMs median of 1e15',
      spec({ workload: '{generator: {overrides: {retail: {toolLatencyMs: {median: 1e15}}}}}' }),
      /toolLatencyMs\.median: at most/,
    ],
    [
      'an extra key in a replica',
      spec({
        servers:
          '  s:\n    kind: external\n    endpoints: {"m": [{"ip_addr": "127.0.0.1", "port": "1900", "weight": 2}]}',
      }),
      /:5:\d+: servers\.s\.endpoints\.m\[0\]\.weight: unknown key "weight"/,
    ],
    [
      'userinfo in ip_addr',
      spec({
        servers:
          '  s:\n    kind: external\n    endpoints: {"m": [{"ip_addr": "evil.example@127.0.0.1", "port": "1900"}]}',
      }),
      /servers\.s\.endpoints\.m\[0\]\.ip_addr: "evil\.example@127\.0\.0\.1" is not a host/,
    ],
    ['a billion laughs', spec({}, `${laughs}\n`), /spec-\d+\.yaml:1:1: YAML aliases expand too far/],
    ['a duplicate key', spec({}, 'name: again\n'), /spec-\d+\.yaml:10:1: duplicate key "name"/],
    [
      'an unknown top-level key on its line',
      spec({}, 'repetitions: 1\nconcurency: [4]\n'),
      /spec-\d+\.yaml:11:1: concurency: unknown key "concurency"/,
    ],
    [
      'an unknown nested key on its line',
      spec({}, 'limits:\n  maxSteps: 10\n  callTimeotS: 5\n'),
      /spec-\d+\.yaml:12:3: limits\.callTimeotS: unknown key "callTimeotS"/,
    ],
    ['an empty file', '', /expected object/],
    ['a YAML list', '- 1\n- 2\n', /expected object/],
    ['broken YAML', 'name: [unclosed\n', /spec-\d+\.yaml:\d+:\d+:/],
    [
      'a missing task file',
      spec({ workload: '{tasks: no-such-tasks.jsonl}' }),
      /workload\.tasks: .*no-such-tasks\.jsonl/,
    ],
  ];
  for (const [what, text, message] of cases)
    it(what, async () => {
      const r = await cli(['run', '--dry-run', specFile(text)]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(message);
      expectClean(r.err);
      expect(r.out).toBe('');
    });

  it('run --replay /nonexistent --dry-run: exit 2 naming --replay', async () => {
    const r = await cli(['run', '--dry-run', specFile(spec()), '--replay', '/nonexistent/steps.jsonl']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--replay: \/nonexistent\/steps\.jsonl/);
    expectClean(r.err);
  });

  it('the base spec itself is valid (the cases above fail for their one change)', async () => {
    const r = await cli(['run', '--dry-run', specFile(spec())]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('a custom domain with its own task count is accepted', () => {
    const r = parseSpecText(
      spec({ workload: '{generator: {domains: [billing], overrides: {billing: {tasks: 5}}}}' }),
    );
    expect(r.ok).toBe(true);
  });

  it("the spec's built-in domains are the task generator's", () => {
    expect([...TAU2_DOMAIN_NAMES].sort()).toEqual(Object.keys(TAU2_DOMAINS).sort());
  });
});

describe('large specs load in one pass and point at the right line', () => {
  it('20k keys: the duplicate and the unknown key at the end are found at their lines', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `      k${i}: ${i}`).join('\n');
    const text = spec({ arms: `\n  - name: a\n    servers: s\n    extraBody:\n${keys}\n      k7: dup` });
    const r = parseSpecText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toEqual([
      expect.objectContaining({ line: 20_010, col: 7, message: expect.stringMatching(/duplicate key "k7"/) }),
    ]);
    const unknown = parseSpecText(
      spec({ arms: `\n  - name: a\n    servers: s\n    extraBody:\n${keys}` }, 'typo: 1\n'),
    );
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.issues[0]).toMatchObject({ line: 20_013, col: 1, path: 'typo' });
  });
});

describe('malformed model-configs: check --config exits 2 naming the replica', () => {
  const cases: [string, unknown, RegExp][] = [
    [
      'an extra key in a replica',
      { m: [{ ip_addr: '127.0.0.1', port: '1900', weight: 2 }] },
      /"m"\[0\]\.weight: unknown key "weight"/,
    ],
    [
      'userinfo in ip_addr',
      { m: [{ ip_addr: 'evil.example@127.0.0.1', port: '1900' }] },
      /"m"\[0\]\.ip_addr: .* is not a host/,
    ],
    ['a port in ip_addr', { m: [{ ip_addr: '127.0.0.1:1900', port: '1900' }] }, /ip_addr: .* is not a host/],
    ['a URL in ip_addr', { m: [{ ip_addr: 'http://h', port: '1900' }] }, /ip_addr: .* is not a host/],
    ['a path in ip_addr', { m: [{ ip_addr: 'h/x', port: '1900' }] }, /ip_addr: .* is not a host/],
    ['a bad IPv4', { m: [{ ip_addr: '999.1.1.1', port: '1900' }] }, /ip_addr: .* is not a host/],
    [
      'a port out of range',
      { m: [{ ip_addr: '127.0.0.1', port: '70000' }] },
      /"m"\[0\]\.port: a port 1-65535/,
    ],
    ['an empty replica list', { m: [] }, /"m": a model needs at least one replica/],
    [
      '2000 replicas',
      { m: Array.from({ length: 2000 }, () => ({ ip_addr: 'h', port: 1 })) },
      /"m": at most 1000 replicas/,
    ],
    [
      'an expert mapped to a number',
      { m: [{ ip_addr: 'h', port: 1 }], oss_expert_mapping: { e: 5 } },
      /oss_expert_mapping\.e: expected a model name/,
    ],
    ['a JSON array', [1, 2], /expected a JSON object/],
  ];
  for (const [what, cfg, message] of cases)
    it(what, async () => {
      const f = join(dir, `cfg-${n++}.json`);
      writeFileSync(f, JSON.stringify(cfg));
      const r = await cli(['check', '--config', f]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(message);
      expectClean(r.err);
    });

  it('not JSON: line:col of the error', async () => {
    const f = join(dir, 'broken.json');
    writeFileSync(f, '{"m": [\n  {"ip_addr": "h",, "port": "1"}]}');
    const r = await cli(['check', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/broken\.json:2:\d+: not valid JSON/);
  });
});

describe('out-of-range and malformed flag values: exit 2 naming the flag, nothing started', () => {
  const cases: [string, string[], RegExp][] = [
    ['bench --timeout 2200000', ['bench', '--timeout', '2200000'], /--timeout "2200000"/],
    [
      'bench --random-input-len 1e12',
      ['bench', '--random-input-len', '1e12'],
      /--random-input-len "1e12" is out of range: give an integer from 1 to 10,000,000/,
    ],
    ['bench --num-prompts 1e9', ['bench', '--num-prompts', '1e9'], /--num-prompts "1e9" is out of range/],
    [
      'bench --max-concurrency 1e9',
      ['bench', '--max-concurrency', '1e9'],
      /--max-concurrency "1e9" is out of range/,
    ],
    ['bench --workers 1e6', ['bench', '--workers', '1000000'], /--workers "1000000" is out of range/],
    [
      'bench: a workload too large to hold',
      ['bench', '--num-prompts', '100000', '--random-input-len', '100000'],
      /would hold 10,000,000,000 prompt tokens in memory/,
    ],
    [
      'bench: a prefix workload too large',
      ['bench', '--dataset-name', 'prefix', '--prefix-len', '9000000', '--prefix-groups', '100'],
      /the prefix workload would hold/,
    ],
    [
      'bench --input-dist past the token bound',
      ['bench', '--input-dist', 'uniform:1-100000000'],
      /--input-dist .* out of range/,
    ],
    [
      'bench --base-url http//127.0.0.1:8000',
      ['bench', '--base-url', 'http//127.0.0.1:8000', '--num-prompts', '1'],
      /--base-url "http\/\/127\.0\.0\.1:8000" is a malformed URL/,
    ],
    [
      'bench --base-url ftp://h:1',
      ['bench', '--base-url', 'ftp://h:1', '--num-prompts', '1'],
      /--base-url "ftp:\/\/h:1" has scheme "ftp"/,
    ],
    [
      'dataset --random-input-len 1e12',
      ['dataset', '--random-input-len', '1e12'],
      /--random-input-len "1e12" is out of range/,
    ],
    [
      'dataset: a workload too large to hold',
      ['dataset', '--num-prompts', '1000000', '--random-input-len', '1000'],
      /would hold 1,000,000,000 prompt tokens/,
    ],
    ['check --timeout 0', ['check', '--timeout', '0', 'http://127.0.0.1:9'], /--timeout "0" is out of range/],
    [
      'check --timeout 1000h',
      ['check', '--timeout', '1000h', 'http://127.0.0.1:9'],
      /--timeout "1000h" is out of range/,
    ],
    [
      'check http//127.0.0.1:1900',
      ['check', 'http//127.0.0.1:1900'],
      /--url "http\/\/127\.0\.0\.1:1900" is a malformed URL/,
    ],
    ['check --url notaurl', ['check', '--url', 'notaurl'], /--url "notaurl" is not a URL/],
    [
      'scrape --url notaurl',
      ['scrape', '--url', 'notaurl', '--duration', '1s'],
      /--url "notaurl" is not a URL/,
    ],
    ['scrape --url host:99999', ['scrape', '--url', '127.0.0.1:99999'], /has port 99999: a port is 1-65535/],
    [
      'scrape --interval 0',
      ['scrape', '--url', 'http://127.0.0.1:9', '--interval', '0'],
      /--interval "0" is out of range/,
    ],
    [
      'scrape --prometheus-url notaurl',
      ['scrape', '--prometheus-url', 'notaurl'],
      /--prometheus-url "notaurl" is not a URL/,
    ],
    ['monitor --url http:/h:1', ['monitor', '--url', 'http:/h:1'], /--url "http:\/h:1" is a malformed URL/],
    [
      'monitor --interval 0',
      ['monitor', '--url', 'http://127.0.0.1:9', '--interval', '0'],
      /--interval "0" is out of range/,
    ],
  ];
  for (const [what, argv, message] of cases)
    it(what, async () => {
      const r = await cli(argv);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(message);
      expectClean(r.err);
      // refused before anything started: no simulator, no request, no run directory
      expect(r.err).not.toMatch(/embedded simulator|run dir/);
    });
});

describe('host fields and URL flags', () => {
  it('a host is a name or an address, nothing else', () => {
    for (const ok of [
      '127.0.0.1',
      'localhost',
      'gpu-node-1.cluster.local',
      '::1',
      '[::1]',
      'fe80::1',
      'node_7',
    ])
      expect(parseHost(ok), ok).toBeDefined();
    for (const bad of [
      'evil.example@127.0.0.1',
      'h:80',
      'http://h',
      'h/x',
      '',
      ' ',
      '-h',
      'a..b',
      '999.1.1.1',
      'h?x',
      'h#x',
      'a b',
    ])
      expect(parseHost(bad), bad).toBeUndefined();
  });

  it('URL flags: scheme://host[:port][/path] or host:port', () => {
    expect(parseUrlFlag('127.0.0.1:1900', '--url').href).toBe('http://127.0.0.1:1900/');
    expect(parseUrlFlag('https://api.example.com/v1', '--url').href).toBe('https://api.example.com/v1');
    expect(parseUrlFlag('[::1]:8000', '--url').port).toBe('8000');
    expect(() => parseUrlFlag('http:127.0.0.1:1900', '--url')).toThrow(/malformed/);
    expect(() => parseUrlFlag('localhost', '--url')).toThrow(/not a URL/);
  });
});

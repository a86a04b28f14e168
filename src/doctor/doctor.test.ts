import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import type { Finding } from './findings.js';

const ROOT = new URL('../../', import.meta.url).pathname;

async function doctor(args: string[], env: Record<string, string> = {}) {
  const { io, out, err } = captureIo({ cwd: ROOT, env });
  const code = await runMain(['doctor', ...args, '--json'], io);
  const text = out.join('');
  const json = code === 2 ? undefined : (JSON.parse(text) as { findings: Finding[]; exitCode: number });
  return { code, json, err: err.join(''), out: text };
}

/** [severity, check, a part of where, a part of the message] per finding, in the report's order. */
const rows = (fs: Finding[]) => fs.map((f) => [f.severity, f.check, f.where, f.message] as const);
function expectFindings(fs: Finding[], want: [string, string, string, string | RegExp][]) {
  const got = rows(fs);
  expect(got.map((g) => `${g[0]} ${g[1]}`)).toEqual(want.map((w) => `${w[0]} ${w[1]}`));
  want.forEach((w, i) => {
    expect(got[i]![2]).toContain(w[2]);
    if (typeof w[3] === 'string') expect(got[i]![3]).toContain(w[3]);
    else expect(got[i]![3]).toMatch(w[3]);
  });
}

describe('servelab doctor on the W2 example', () => {
  it('finds what is true of that file: the fork arm runs another vllm executable, no version is named, and the fork switch differs', async () => {
    const r = await doctor(['examples/w2-three-arms.yaml']);
    expect(r.code).toBe(0);
    expectFindings(r.json!.findings, [
      [
        'warning',
        'arms-differ',
        'servers.kv-ttl-fork.processes[0] (continuum-1900)',
        'different vLLM executables: vllm (baseline, router) vs /opt/continuum/.venv/bin/vllm (kv-ttl)',
      ],
      ['info', 'vllm-version', 'servers.baseline-vllm.processes[0]', 'do not say which vLLM version'],
      [
        'info',
        'arms-differ',
        'servers.router-over-vllm.processes[0] (vllm-backend-1901)',
        'baseline: (none of them); router: (none of them); kv-ttl: --scheduling-policy continuum',
      ],
    ]);
    // per-process caches under /scratch, hermes + auto tool choice on the orchestrator: no finding
    expect(r.json!.findings.some((f) => f.check === 'compile-cache' || f.check === 'tool-parser')).toBe(
      false,
    );
  });

  it('--strict fails on the warning; the text report names why and the fix', async () => {
    expect((await doctor(['examples/w2-three-arms.yaml', '--strict'])).code).toBe(1);
    const { io, out } = captureIo({ cwd: ROOT });
    expect(await runMain(['doctor', 'examples/w2-three-arms.yaml'], io)).toBe(0);
    const text = out.join('');
    expect(text).toContain('WARNING [arms-differ] examples/w2-three-arms.yaml: servers.baseline-vllm');
    expect(text).toMatch(/\n {2}why: W2's arms ran different vLLM versions/);
    expect(text).toMatch(/0 errors, 1 warning, 2 info\n$/);
  });

  it('an inherited cache directory shared by two processes of one script is an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-'));
    writeFileSync(
      join(dir, 'two.sh'),
      [
        'export VLLM_CACHE_ROOT=$HOME/.cache/vllm-a',
        'vllm serve Qwen/Qwen3-32B-FP8 --port 1904 > 1904.log 2>&1 &',
        'VLLM_CACHE_ROOT=$HOME/.cache/vllm-b vllm serve Qwen/Qwen3-32B-FP8 --port 1905 >> 1905.log 2>&1 &',
      ].join('\n'),
    );
    const { io, out } = captureIo({ cwd: dir, env: { TORCHINDUCTOR_CACHE_DIR: '/home/u/inductor' } });
    expect(await runMain(['doctor', 'two.sh', '--json'], io)).toBe(1);
    const fs = (JSON.parse(out.join('')) as { findings: Finding[] }).findings;
    expectFindings(fs, [
      [
        'error',
        'compile-cache',
        'two.sh:2; 3',
        "2 server processes that run at the same time share TORCHINDUCTOR_CACHE_DIR=/home/u/inductor (inherited from servelab's environment)",
      ],
      ['info', 'vllm-version', 'two.sh:2; 3', 'do not say which vLLM version'],
    ]);
  });
});

describe('servelab doctor on deliberately broken inputs: every check fires', () => {
  it('the broken W2-like spec', async () => {
    const r = await doctor(['examples/doctor/broken-w2.yaml', '--bad-nodes', 'gpu02,gpu07']);
    expect(r.code).toBe(1);
    const p = (server: string, i: number) => `servers.${server}.processes[${i}]`;
    expectFindings(r.json!.findings, [
      [
        'error',
        'model-config',
        'oss_expert_mapping.expert-3',
        'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8", which has no replicas',
      ],
      ['error', 'model-config', 'servers.baseline-vllm.endpoints', '127.0.0.1:1910 is listed under 2 models'],
      ['error', 'tool-parser', p('baseline-vllm', 0), 'has no --enable-auto-tool-choice'],
      [
        'error',
        'tool-parser',
        p('baseline-vllm', 0),
        '--tool-call-parser openai, but /ckpt/Nemotron-Orchestrator-8B needs "hermes"',
      ],
      [
        'error',
        'vllm-version',
        p('baseline-vllm', 0),
        /^vLLM 0\.12\.0 \(from the executable path\).*\[vllm-0\.12\.0-tool-parsers\]$/,
      ],
      [
        'error',
        'spec-decode',
        p('baseline-vllm', 1),
        'nvidia/gpt-oss-120b-Eagle3-v2 is trained for openai/gpt-oss-120b, not for openai/gpt-oss-20b',
      ],
      [
        'error',
        'spec-decode',
        p('baseline-vllm', 2),
        'vocabulary of 128256 tokens, target Qwen/Qwen3-32B-FP8 151936',
      ],
      ['error', 'vllm-version', p('old-fork', 1), '[vllm-no-gpt-oss]'],
      ['error', 'vllm-version', p('old-fork', 1), '[vllm-gpt-oss-openai-parser]'],
      ['error', 'cache-wipe', p('old-fork', 2), 'rm -rf /tmp/torchinductor_*'],
      ['error', 'vllm-version', p('old-fork', 2), '[vllm-no-qwen3-next]'],
      [
        'error',
        'compile-cache',
        `${p('baseline-vllm', 0)} (orchestrator-1900); ${p('baseline-vllm', 1)}`,
        'share TORCHINDUCTOR_CACHE_DIR=/tmp/inductor',
      ],
      ['error', 'stale-gpu-nodes', p('baseline-vllm', 2), 'gpu02 (srun --nodelist) is on the list'],
      [
        'warning',
        'compile-cache',
        p('baseline-vllm', 0),
        'TORCHINDUCTOR_CACHE_DIR=/tmp/inductor is under /tmp',
      ],
      [
        'warning',
        'compile-cache',
        p('baseline-vllm', 0),
        'VLLM_CACHE_ROOT is not set: the process uses ~/.cache/vllm',
      ],
      ['warning', 'spec-decode', p('baseline-vllm', 1), "--gpu-memory-utilization 0.9 (vLLM's default)"],
      [
        'warning',
        'compile-cache',
        p('baseline-vllm', 1),
        'TORCHINDUCTOR_CACHE_DIR=/tmp/inductor is under /tmp',
      ],
      [
        'warning',
        'tool-parser',
        p('old-fork', 1),
        '--tool-call-parser hermes, but openai/gpt-oss-20b needs "openai"',
      ],
      ['warning', 'spec-decode', p('old-fork', 2), 'speculative decoding with --gpu-memory-utilization 0.95'],
      [
        'warning',
        'arms-differ',
        p('old-fork', 0),
        'different vLLM versions: 0.12.0 (baseline) vs 0.9.2 (fork)',
      ],
      [
        'warning',
        'arms-differ',
        p('old-fork', 0),
        'fork: --enable-auto-tool-choice --tool-call-parser hermes --max-num-seqs 64',
      ],
      ['warning', 'arms-differ', p('old-fork', 1), 'openai/gpt-oss-20b with different vLLM versions'],
      ['warning', 'arms-differ', p('old-fork', 1), 'openai/gpt-oss-20b with different flags'],
    ]);
    for (const f of r.json!.findings) {
      expect(f.why.length).toBeGreaterThan(20);
      expect(f.fix.length).toBeGreaterThan(5);
    }
  });

  it('the broken launch script', async () => {
    const r = await doctor(['examples/doctor/broken-launch.sh', '--bad-nodes', 'gpu07']);
    expect(r.code).toBe(1);
    const f = 'examples/doctor/broken-launch.sh';
    expectFindings(r.json!.findings, [
      ['error', 'cache-wipe', `${f}:11`, 'rm -rf /tmp/torchinductor_*'],
      ['error', 'compile-cache', `${f}:19; 22`, 'share VLLM_CACHE_ROOT=/tmp/vllm-cache'],
      ['error', 'stale-gpu-nodes', `${f}:16`, 'gpu07 (ssh -L) is on the list'],
      ['warning', 'tool-parser', `${f}:19`, '--tool-call-parser hermes without --enable-auto-tool-choice'],
      [
        'warning',
        'compile-cache',
        `${f}:19`,
        'TORCHINDUCTOR_CACHE_DIR is not set: the process uses /tmp/torchinductor_<user>',
      ],
      ['warning', 'compile-cache', `${f}:19`, 'VLLM_CACHE_ROOT=/tmp/vllm-cache is under /tmp'],
      ['warning', 'log-file', `${f}:19`, 'goes to no log file (vllm serve Qwen/Qwen3-32B-FP8)'],
      ['warning', 'spec-decode', `${f}:22`, 'not the known pair (eagle3 with nvidia/gpt-oss-120b-Eagle3-v2)'],
      ['warning', 'compile-cache', `${f}:22`, 'VLLM_CACHE_ROOT=/tmp/vllm-cache is under /tmp'],
      [
        'warning',
        'stale-gpu-nodes',
        `${f}: #SBATCH lines`,
        '#SBATCH does not exclude the known-bad node(s) gpu07',
      ],
      ['info', 'vllm-version', `${f}:19; 22`, 'do not say which vLLM version they run (vllm)'],
    ]);
  });

  it('the broken model-config', async () => {
    const r = await doctor(['examples/doctor/broken-model-config.json']);
    expect(r.code).toBe(1);
    expectFindings(r.json!.findings, [
      ['error', 'model-config', 'oss_expert_mapping.expert-3', 'has no replicas in this config'],
      [
        'error',
        'model-config',
        '"/ckpt/Nemotron-Orchestrator-8B", "Qwen/Qwen3-32B-FP8"',
        '127.0.0.1:1900 is listed under 2 models',
      ],
      ['warning', 'model-config', '"openai/gpt-oss-20b"', '127.0.0.1:1910 is listed 2 times'],
      ['info', 'model-config', '"my-lab/secret-model-7b"', "not in servelab's model table"],
    ]);
  });

  it('without a known-bad node list, cluster recipes get one info finding instead', async () => {
    const r = await doctor(['examples/doctor/broken-w2.yaml']);
    const nodes = r.json!.findings.filter((f) => f.check === 'stale-gpu-nodes');
    expect(nodes.map((f) => [f.severity, f.message])).toEqual([
      ['info', expect.stringContaining('run on cluster nodes (gpu01, gpu02)') as unknown as string],
    ]);
    // the W2 example runs on this machine (experts behind 127.0.0.1 forwards): no node finding
    const w2 = await doctor(['examples/w2-three-arms.yaml']);
    expect(w2.json!.findings.some((f) => f.check === 'stale-gpu-nodes')).toBe(false);
  });

  it('unreadable and unknown inputs are bad input (exit 2) naming the input and the kinds', async () => {
    const missing = await doctor(['examples/nope.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read "examples\/nope.yaml".*\n {2}hint: give a spec/);
    const unknown = await doctor(['README.md']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('"README.md" is none of the kinds doctor reads');
    expect(unknown.err).toContain('Sweeps are not built yet');
    const badSpec = await doctor(['examples/model-config.json', 'examples/w1-topology.yaml']);
    expect(badSpec.code).toBe(2);
    expect(badSpec.err).toMatch(/error\(s\) in spec/);
    expect(badSpec.err).not.toMatch(/\n\s+at /);
  });
});

/**
 * The W3 example (examples/w3-glm46-sweep.yaml: GLM-4.6 on 8 x 8 H200, W3's flags and five
 * phases): its --dry-run shows the plan (a stand-in `vllm` on PATH, since the plan checks the
 * executable as a run would); its `engine: sim` version runs end to end in virtual time.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

describe('examples/w3-glm46-sweep.yaml', () => {
  it('--dry-run: 23 configs, each a multi-node vllm serve over Ray with its flags, warnings for the ones vLLM refuses', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'vllm-bin-'));
    writeFileSync(join(bin, 'vllm'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'vllm'), 0o755);
    const c = captureIo({ env: { HOME: homedir(), USER: 'u', PATH: `${bin}:${process.env.PATH ?? ''}` } });
    expect(
      await runMain(['sweep', resolve('examples/w3-glm46-sweep.yaml'), '--dry-run'], c.io),
      c.err.join(''),
    ).toBe(0);
    const lines = c.out.join('').split('\n');
    expect(lines).toContain(
      'plan: 23 cell(s) in real time, 23 server config(s) (fresh servers for every cell)',
    );
    const configs = lines.filter((l) => /^ {2}servers\.glm cfg\d+ /.test(l));
    expect(configs).toHaveLength(23);
    for (const l of configs) {
      // launcher slurm: each config is one 8-node job (Ray head and workers, vLLM on the head)
      expect(l).toContain(
        "slurm job, command (the job's Ray cluster over 8 nodes, vLLM on its head): glm-8000: ",
      );
      expect(l).toContain(' vllm serve zai-org/GLM-4.6-FP8 ');
      // W4: its own compile caches under the home directory, the head's GPUs, the spec's NCCL env
      expect(l).toMatch(/TORCHINDUCTOR_CACHE_DIR=\S*\/\.cache\/servelab\/compile\/\S+-8000\/torchinductor /);
      expect(l).toContain('CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 ');
      expect(l).toContain('NCCL_SOCKET_IFNAME=ib0 ');
      expect(l).toContain(
        '--tensor-parallel-size 8 --pipeline-parallel-size 8 --distributed-executor-backend ray',
      );
    }
    // every phase is there, with W3's values
    for (const p of [
      'memory_batch',
      'quantization_caching',
      'expert_parallel',
      'chunked_prefill',
      'scheduler',
    ])
      expect(configs.some((l) => l.includes(`[phase=${p} `))).toBe(true);
    const text = configs.join('\n');
    for (const v of [
      '--max-num-batched-tokens 32768',
      '--max-num-seqs 512',
      '--gpu-memory-utilization 0.95',
      '--kv-cache-dtype fp8_e5m2',
      '--no-enable-prefix-caching',
      '--no-enable-chunked-prefill',
      '--max-num-partial-prefills 4',
      '--scheduling-policy priority',
      '--enable-eplb',
    ])
      expect(text).toContain(v);
    // vLLM 0.11.0 takes the all-to-all backend from the environment, EPLB's redundant experts in --eplb-config
    expect(text).toContain('VLLM_ALL2ALL_BACKEND=deepep_high_throughput ');
    expect(text).toContain(`--eplb-config '{"num_redundant_experts":32}'`);
    expect(lines.filter((l) => l.includes('warning: eplb_num_redundant_experts'))).not.toHaveLength(0);
    expect(lines.filter((l) => l.startsWith('    cell '))).toHaveLength(23);
  });

  it('the engine: sim version runs in virtual time; not-modelled flags are listed in report.txt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'w3-sim-'));
    const c = captureIo({ cwd: dir, env: {} });
    const code = await runMain(
      [
        'sweep',
        resolve('examples/w3-glm46-sweep-sim.yaml'),
        '--virtual',
        '--compare-param',
        'max_num_batched_tokens',
      ],
      c.io,
    );
    expect(code, c.err.join('')).toBe(0);
    const runDir = c.out.join('').match(/run directory: (.+)\n/)?.[1] as string;
    const csv = readFileSync(join(runDir, 'experiment_results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(1 + 14);
    const head = csv[0]!.split(',');
    for (const col of [
      'phase',
      'gpu_memory_utilization',
      'max_num_batched_tokens',
      'kv_cache_dtype',
      'all2all_backend',
      'enable_chunked_prefill',
      'scheduling_policy',
    ])
      expect(head).toContain(col);
    const ok = head.indexOf('success_rate');
    for (const row of csv.slice(1)) expect(row.split(',')[ok]).toBe('1');
    const report = readFileSync(join(runDir, 'report.txt'), 'utf8');
    expect(report).toMatch(/not modelled by the simulator[^\n]*\n( {2}.+\n)* {2}all2all_backend: 3 run\(s\)/);
    expect(report).toContain('max_num_batched_tokens against output_throughput_tok_s');
  });
});

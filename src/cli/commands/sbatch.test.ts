/**
 * `servelab sbatch spec.yaml --out DIR` reads the sweep spec (the planner's cells, as `servelab
 * sweep`): a W3-like 8-node GLM spec renders one Ray script per cell and a launch-all script,
 * submitting nothing; the W3 example itself renders; bad input names the key.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

const SPEC = `
name: w3-glm46
servers:
  glm:
    kind: vllm
    model: zai-org/GLM-4.6
    version: 0.11.0
    tensor_parallel_size: 8
    pipeline_parallel_size: 8
    distributed_executor_backend: ray
    enable_expert_parallel: true
    all2all_backend: deepep_low_latency
    tool_call_parser: glm45
    nodes: 8
    gpus: [0, 1, 2, 3, 4, 5, 6, 7]
    cache_root: /home/ann/.cache/servelab/compile
launcher:
  kind: slurm
  partition: h200
  gpusPerNode: 8
  time: "02:00:00"
  exclude: [gpu-017, gpu-042]
  env: { NCCL_IB_HCA: "mlx5_0,mlx5_1", NCCL_SOCKET_IFNAME: ib0 }
  servelab: [servelab]
arms: [{name: glm, servers: glm}]
workload:
  requests: { dataset: random, num_prompts: 500, input_len: 1024, output_len: 128 }
rates: [4]
sweep:
  mode: grid
  params:
    max_num_batched_tokens: [4096, 8192]
    kv_cache_dtype: [auto, fp8_e5m2]
`;

function run(args: string[], env: Record<string, string> = {}) {
  const c = captureIo({
    signal: new AbortController().signal,
    env: { HOME: '/home/ann', USER: 'ann', PATH: process.env.PATH ?? '', ...env },
  });
  return runMain(args, c.io).then((code) => ({ code, out: c.out.join(''), err: c.err.join('') }));
}

describe('servelab sbatch', () => {
  it('renders a script per planned cell (Ray over 8 nodes) and a launch-all script; submits nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sbatch-'));
    writeFileSync(join(dir, 'spec.yaml'), SPEC);
    const r = await run([
      'sbatch',
      join(dir, 'spec.yaml'),
      '--out',
      join(dir, 'out'),
      '--run-dir',
      join(dir, 'shared/runs/w3'),
    ]);
    expect(r.code, r.err).toBe(EXIT.ok);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(5);
    // the planner's cell ids, as servelab sweep names them
    expect(lines[0]).toMatch(/\tglm\/cfg1\/rate4\/r1$/);
    expect(r.err).toMatch(/4 cell script\(s\) .*nothing submitted/);
    const script = readFileSync(lines[3]!.split('\t')[0]!, 'utf8');
    expect(script).toContain('#SBATCH --nodes=8\n');
    // the fourth cell's port: every cell's job may share a node with the others
    expect(script).toContain(' --port 8003 ');
    expect(script).toContain('#SBATCH --gpus-per-node=8\n');
    expect(script).toContain('#SBATCH --partition=h200\n');
    expect(script).toContain('#SBATCH --exclude=gpu-017,gpu-042\n');
    expect(script).toContain('export NCCL_IB_HCA=mlx5_0,mlx5_1\n');
    expect(script).toMatch(/ray start --head --node-ip-address="\$head_ip" --port=6379/);
    expect(script).toMatch(/ray start --address="\$head_ip:6379" --num-gpus=8 --block/);
    expect(script).toMatch(
      /vllm serve zai-org\/GLM-4\.6 --host 127\.0\.0\.1 --port 8003 --tensor-parallel-size 8 --pipeline-parallel-size 8 --distributed-executor-backend ray --enable-expert-parallel .*--max-num-batched-tokens 8192 --kv-cache-dtype fp8_e5m2/,
    );
    // 0.11.0: the all2all backend is an environment variable of the vLLM process
    expect(script).toContain('VLLM_ALL2ALL_BACKEND=deepep_low_latency');
    expect(script).toMatch(/"TORCHINDUCTOR_CACHE_DIR=\$CACHE_ROOT\/\$node_name-8003\/torchinductor"/);
    expect(script).toContain('CACHE_ROOT=/home/ann/.cache/servelab/compile\n');
    expect(script).toContain(`CELL_DIR=${dir}/shared/runs/w3/glm/cfg4/rate4/r1\n`);
    // the cell's workload and load level, from inside the job against its own server
    expect(script).toMatch(
      /bench --base-url http:\/\/127\.0\.0\.1:8003 --model zai-org\/GLM-4\.6 --out "\$CELL_DIR\/bench" --dataset-name random --num-prompts 500 --random-input-len 1024 --random-output-len 128 .*--request-rate 4 /,
    );
    const all = readFileSync(lines[4]!, 'utf8');
    expect(all).toContain('id=$(sbatch --parsable "--output=$2" "$1")');
    expect(all.match(/^submit /gm)).toHaveLength(4);
    expect(all).toContain(` ${dir}/shared/runs/w3/glm/cfg1/rate4/r1/logs/servelab-glm_cfg1_rate4_r1-%j.out `);
    // the plan, for servelab sweep status: cells, scripts, and each cell's swept flags
    const plan = JSON.parse(readFileSync(join(dir, 'shared/runs/w3/run.json'), 'utf8'));
    expect(plan).toMatchObject({ kind: 'sbatch', cells: expect.arrayContaining(['glm/cfg1/rate4/r1']) });
    expect(plan.jobs['glm/cfg4/rate4/r1'].run.config).toMatchObject({
      max_num_batched_tokens: 8192,
      kv_cache_dtype: 'fp8_e5m2',
      request_rate: 4,
    });
  });

  it('examples/w3-glm46-sweep.yaml renders: 23 cells, each an 8-node Ray job with the example NCCL env', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sbatch-'));
    const r = await run([
      'sbatch',
      resolve('examples/w3-glm46-sweep.yaml'),
      '--out',
      dir,
      '--run-dir',
      join(dir, 'shared/w3'),
    ]);
    expect(r.code, r.err).toBe(EXIT.ok);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(24);
    const script = readFileSync(lines[0]!.split('\t')[0]!, 'utf8');
    expect(script).toContain('#SBATCH --nodes=8\n');
    expect(script).toContain('#SBATCH --exclusive\n');
    expect(script).toContain('export NCCL_SOCKET_IFNAME=ib0\n');
    expect(script).toMatch(/ --suite medium_balanced .*--request-rate 8 /);
  });

  it('sweep status --aggregate: nothing yet is exit 1; --aggregate without status, or a run dir of another kind, is bad input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sbatch-'));
    writeFileSync(join(dir, 'spec.yaml'), SPEC);
    const runDir = join(dir, 'run');
    const r = await run(['sbatch', join(dir, 'spec.yaml'), '--out', join(dir, 'out'), '--run-dir', runDir]);
    expect(r.code, r.err).toBe(EXIT.ok);
    // no job submitted; squeue may be missing here (the name look-up says so), the lines still come
    const st = await run(['sweep', 'status', runDir, '--aggregate'], { PATH: '/nonexistent' });
    expect(st.code, st.err).toBe(EXIT.failed);
    expect(st.out).toContain('glm/cfg1/rate4/r1\tplanned (never submitted)\n');
    expect(st.out).toContain('4 cell(s): 4 planned\n');
    expect(st.out).toContain('nothing to aggregate yet');
    const bad = await run(['sweep', join(dir, 'spec.yaml'), '--aggregate']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toMatch(/--aggregate goes with servelab sweep status/);
    // a run directory of another kind is not overwritten
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'other', 'run.json'), JSON.stringify({ v: 1, kind: 'agent', cells: [] }));
    const other = await run([
      'sbatch',
      join(dir, 'spec.yaml'),
      '--out',
      join(dir, 'out2'),
      '--run-dir',
      join(dir, 'other'),
    ]);
    expect(other.code).toBe(EXIT.usage);
    expect(other.err).toMatch(/already holds a run of kind agent/);
    expect(other.err).not.toMatch(/\n\s+at /);
  });

  it('bad specs are bad input naming the key: unknown launcher key, TP x PP not spanning the nodes, /tmp cache, #SBATCH value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-sbatch-'));
    const cases: [string, RegExp][] = [
      [
        SPEC.replace('  gpusPerNode: 8', '  gpusPerNode: 8\n  nodez: 3'),
        /launcher\.nodez: unknown key "nodez"/,
      ],
      [
        SPEC.replace('pipeline_parallel_size: 8', 'pipeline_parallel_size: 4'),
        /TP x PP = 32 GPUs, but 8 nodes x 8 GPUs = 64/,
      ],
      [SPEC.replace('/home/ann/.cache/servelab/compile', '/tmp/cache'), /cache_root.*\/tmp/],
      [
        SPEC.replace('partition: h200', 'partition: "h200 --wrap=x"'),
        /--partition value "h200 --wrap=x" cannot go into an #SBATCH line/,
      ],
    ];
    for (const [text, re] of cases) {
      writeFileSync(join(dir, 'spec.yaml'), text);
      const r = await run(['sbatch', join(dir, 'spec.yaml'), '--out', join(dir, 'out')]);
      expect(r.code, r.err).toBe(EXIT.usage);
      expect(r.err).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { parseSpecText } from '../config/load.js';
import { type Spec, SWEEP_PHASE_NAMES } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import { planExperiment, planLines } from './plan.js';
import { expandSweep, SWEEP_PHASES } from './sweep.js';

function spec(text: string): Spec {
  const r = parseSpecText(text);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.spec;
}

const ENV = { HOME: '/home/u', USER: 'u' };

const SWEEP = (sweep: string, extra = '') => `
name: sw
servers:
  llama:
    kind: vllm
    model: meta-llama/Llama-3.1-8B-Instruct
    served_model_name: "llama 8b; rm -rf $HOME"
    port: 8100
    tensor_parallel_size: 1
${extra}
arms: [{name: a, servers: llama}]
workload: {requests: {dataset: random, num_prompts: 10, input_len: 64, output_len: 8}}
rates: [2, 8]
sweep: ${sweep}
`;

describe('sweep phases and expansion', () => {
  it("carries W3's five phases with their value lists", () => {
    expect(Object.keys(SWEEP_PHASES)).toEqual([...SWEEP_PHASE_NAMES]);
    expect(SWEEP_PHASES.memory_batch.values).toEqual({
      gpu_memory_utilization: [0.9, 0.92, 0.95],
      max_num_batched_tokens: [4096, 8192, 16384, 32768],
      max_num_seqs: [64, 128, 256, 512],
      max_model_len: [16384, 32768],
    });
    expect(SWEEP_PHASES.quantization_caching.values.kv_cache_dtype).toEqual(['auto', 'fp8_e5m2']);
    expect(SWEEP_PHASES.expert_parallel.values.all2all_backend).toEqual([
      'pplx',
      'deepep_low_latency',
      'deepep_high_throughput',
    ]);
    expect(SWEEP_PHASES.chunked_prefill.values.max_num_partial_prefills).toEqual([1, 2, 4]);
  });

  it('grid: every combination; zip: the i-th values; ofat: one flag at a time from the base', () => {
    const grid = expandSweep({ mode: 'grid', phases: ['memory_batch'] }, {});
    expect(grid[0]?.points).toHaveLength(3 * 4 * 4 * 2);
    const zip = expandSweep(
      { mode: 'zip', params: { max_num_batched_tokens: [4096, 8192], max_num_seqs: [64, 128] } },
      {},
    );
    expect(zip[0]?.points).toEqual([
      { max_num_batched_tokens: 4096, max_num_seqs: 64 },
      { max_num_batched_tokens: 8192, max_num_seqs: 128 },
    ]);
    expect(() =>
      expandSweep({ mode: 'zip', params: { max_num_seqs: [1, 2], block_size: [16] } }, {}),
    ).toThrow(/one length; max_num_seqs has 2, block_size has 1/);
    // the base's own value is the starting point; each flag then takes its other values
    const ofat = expandSweep(
      { mode: 'ofat', params: { max_num_batched_tokens: [4096, 8192, 16384], max_num_seqs: [64, 256] } },
      { max_num_batched_tokens: 8192 },
    );
    expect(ofat[0]?.points).toEqual([
      { max_num_batched_tokens: 8192, max_num_seqs: 64 },
      { max_num_batched_tokens: 4096, max_num_seqs: 64 },
      { max_num_batched_tokens: 16384, max_num_seqs: 64 },
      { max_num_batched_tokens: 8192, max_num_seqs: 256 },
    ]);
  });

  it("a phase's fixed settings ride along; the spec's params replace a phase's list", () => {
    const [ep] = expandSweep({ mode: 'grid', phases: ['expert_parallel'] }, {});
    expect(ep?.points).toHaveLength(12);
    expect(ep?.points.every((p) => p.enable_expert_parallel === true)).toBe(true);
    const [mb] = expandSweep(
      { mode: 'grid', phases: ['memory_batch'], params: { max_num_seqs: [128], max_model_len: [8192] } },
      {},
    );
    expect(mb?.points).toHaveLength(3 * 4);
    expect(new Set(mb?.points.map((p) => p.max_model_len))).toEqual(new Set([8192]));
    // a param no chosen phase lists is a group of its own, not mixed into the phases
    const groups = expandSweep(
      { mode: 'ofat', phases: ['scheduler'], params: { block_size: [16, 32] } },
      { block_size: 16 },
    );
    expect(groups.map((g) => g.phase)).toEqual(['scheduler', 'params']);
    expect(groups[0]?.points).toEqual([{ scheduling_policy: 'fcfs' }, { scheduling_policy: 'priority' }]);
    expect(groups[1]?.points).toEqual([{ block_size: 16 }, { block_size: 32 }]);
  });

  it('refuses an unknown phase by name, and a sweep over servers that are not kind vllm', () => {
    const r = parseSpecText(SWEEP('{phases: [memory]}'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]?.message).toMatch(/unknown sweep phase "memory" \(known: memory_batch/);
    const sim = parseSpecText(
      SWEEP('{params: {max_num_seqs: [1]}}').replace(
        /llama:\n {4}kind: vllm[\s\S]*?tensor_parallel_size: 1\n/,
        'llama: {kind: sim, topology: {servers: [{model: m}]}}\n',
      ),
    );
    expect(sim.ok).toBe(false);
    if (!sim.ok)
      expect(sim.issues.map((i) => i.message).join()).toMatch(
        /a sweep sets vLLM flags: servers.llama is kind sim/,
      );
  });
});

describe('the planner over kind: vllm servers', () => {
  it('expands arms x server configs x rates x reps, each config rendered to its own vllm serve argv', () => {
    const s = spec(
      SWEEP('{mode: grid, params: {max_num_batched_tokens: [4096, 8192], kv_cache_dtype: [auto, fp8]}}'),
    );
    const plan = planExperiment(s, 'real', { env: ENV });
    expect(plan.cells.map((c) => c.id)).toEqual([
      'a/cfg1/rate2/r1',
      'a/cfg1/rate8/r1',
      'a/cfg2/rate2/r1',
      'a/cfg2/rate8/r1',
      'a/cfg3/rate2/r1',
      'a/cfg3/rate8/r1',
      'a/cfg4/rate2/r1',
      'a/cfg4/rate8/r1',
    ]);
    // servers restart per config: one ServerConfig (one launch) per config, shared by its cells
    expect(new Set(plan.cells.map((c) => c.server)).size).toBe(4);
    const c4 = plan.cells[6]!;
    expect(c4.server.params).toEqual({
      phase: 'params',
      max_num_batched_tokens: 8192,
      kv_cache_dtype: 'fp8',
    });
    expect(c4.load).toEqual({ kind: 'rate', ratePerSec: 2 });
    const proc = c4.server.spec.kind === 'command' ? c4.server.spec.processes[0] : undefined;
    expect(proc?.argv.slice(0, 3)).toEqual(['vllm', 'serve', 'meta-llama/Llama-3.1-8B-Instruct']);
    expect(proc?.argv.join(' ')).toContain('--max-num-batched-tokens 8192');
    expect(proc?.argv.join(' ')).toContain('--kv-cache-dtype fp8');
    // W4: each process its own compile caches under the user's home, its GPUs, a log per port
    expect(proc?.env.TORCHINDUCTOR_CACHE_DIR).toMatch(
      /^\/home\/u\/\.cache\/servelab\/compile\/.+-8100\/torchinductor$/,
    );
    expect(proc?.env.CUDA_VISIBLE_DEVICES).toBe('0');
    expect(proc?.label).toBe('llama-8100');
  });

  it('--dry-run lines: every config with its flags and its argv quoted for pasting, every cell', () => {
    const s = spec(SWEEP('{params: {max_num_seqs: [64, 128]}}'));
    const lines = planLines(planExperiment(s, 'real', { env: ENV }));
    expect(lines[0]).toBe('plan: 4 cell(s) in real time, 2 server config(s) (fresh servers for every cell)');
    expect(lines[1]).toMatch(
      /^ {2}servers\.llama cfg1 for arm a \[phase=params max_num_seqs=64\]: command: llama-8100: .*CUDA_VISIBLE_DEVICES=0 vllm serve /,
    );
    // the served name's shell metacharacters are quoted
    expect(lines[1]).toContain(`--served-model-name 'llama 8b; rm -rf $HOME'`);
    expect(lines).toContain('    cell 2 of 4: a/cfg1/rate8/r1 (rate 8/s, seed 0)');
  });

  it('engine: sim renders `servelab sim` with the same flags in real time, the engine in-process in virtual time', () => {
    const text = SWEEP(
      '{params: {max_num_seqs: [64]}}',
      '    engine: sim\n    servelab_bin: [node, /opt/servelab.js]',
    );
    const real = planExperiment(spec(text), 'real', { env: ENV }).cells[0]!;
    const argv = real.server.spec.kind === 'command' ? real.server.spec.processes[0]?.argv : [];
    expect(argv?.slice(0, 5)).toEqual([
      'node',
      '/opt/servelab.js',
      'sim',
      '--model',
      'meta-llama/Llama-3.1-8B-Instruct',
    ]);
    expect(argv?.join(' ')).toContain('--max-num-seqs 64');
    const virtual = planExperiment(spec(text), 'virtual').cells[0]!;
    expect(virtual.server.launcher).toBe('sim-virtual');
    expect(virtual.server.spec.kind).toBe('sim');
    // engine: vllm cannot run in virtual time: refused by name
    try {
      planExperiment(spec(SWEEP('{params: {max_num_seqs: [64]}}')), 'virtual');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ServelabError);
      expect((err as ServelabError).hint).toMatch(/servers\.llama\.engine: sim/);
    }
  });

  it('a flag set that two phases share runs once; the plan is bounded', () => {
    const s = spec(SWEEP('{mode: ofat, phases: [chunked_prefill, scheduler, chunked_prefill]}'));
    const configs = [...new Set(planExperiment(s, 'real', { env: ENV }).cells.map((c) => c.server))];
    // chunked_prefill ofat: the base + 1 + 2 = 4; scheduler: 2; the repeated phase adds none
    expect(configs.map((c) => c.label)).toEqual(['cfg1', 'cfg2', 'cfg3', 'cfg4', 'cfg5', 'cfg6']);
    expect(configs[4]?.params).toEqual({ phase: 'scheduler', scheduling_policy: 'fcfs' });
    const big = spec(
      SWEEP('{mode: grid, phases: [memory_batch]}').replace(
        'rates: [2, 8]',
        `rates: [${Array.from({ length: 120 }, (_, i) => i + 1).join(', ')}]`,
      ),
    );
    expect(() => planExperiment(big, 'real', { env: ENV })).toThrow(/11,520 cells/);
  });
});

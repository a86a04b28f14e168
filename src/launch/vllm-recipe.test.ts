import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { renderSetting, vllmSeries } from '../knowledge/vllm-flags.js';
import { compileCacheRoot, planServerProcesses, renderServe, type VllmServerConfig } from './vllm-recipe.js';

const GLM: VllmServerConfig = {
  model: 'zai-org/GLM-4.6',
  served_model_name: 'glm',
  tensor_parallel_size: 8,
  pipeline_parallel_size: 2,
  data_parallel_size: 4,
  enable_expert_parallel: true,
  all2all_backend: 'deepep_low_latency',
  enable_eplb: true,
  eplb_num_redundant_experts: 32,
  max_num_batched_tokens: 16384,
  max_num_seqs: 256,
  max_model_len: 32768,
  gpu_memory_utilization: 0.92,
  kv_cache_dtype: 'fp8_e5m2',
  enable_prefix_caching: false,
  enable_chunked_prefill: true,
  max_num_partial_prefills: 2,
  scheduling_policy: 'priority',
  speculative_config: { method: 'eagle3', model: 'x/draft', num_speculative_tokens: 3 },
  tool_call_parser: 'glm45',
  extra_args: ['--trust-remote-code'],
};

const flagValue = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

describe('knowledge/vllm-flags', () => {
  it('series of versions; bad and too-old versions are bad input naming the version', () => {
    expect(vllmSeries('0.9.2')).toBe('0.9');
    expect(vllmSeries('0.10.1.1')).toBe('0.10');
    expect(vllmSeries('0.11.0')).toBe('0.11');
    expect(vllmSeries('0.12.0')).toBe('later');
    expect(vllmSeries('1.0.0')).toBe('later');
    expect(() => vllmSeries('latest')).toThrow(/"latest" is not a version/);
    expect(() => vllmSeries('0.8.5')).toThrow(/predates vLLM 0.9/);
  });

  it('all2all backend: VLLM_ALL2ALL_BACKEND up to 0.11.0, --all2all-backend from 0.11.1', () => {
    for (const v of ['0.9.2', '0.10.2', '0.11.0']) {
      const r = renderSetting('all2all_backend', 'pplx', v);
      expect(r.argv).toEqual([]);
      expect(r.env).toEqual({ VLLM_ALL2ALL_BACKEND: 'pplx' });
    }
    for (const v of ['0.11.1', '0.12.0']) {
      expect(renderSetting('all2all_backend', 'pplx', v).argv).toEqual(['--all2all-backend', 'pplx']);
    }
  });

  it('redundant experts: --num-redundant-experts before 0.11, --eplb-config JSON from 0.11', () => {
    expect(renderSetting('eplb_num_redundant_experts', 16, '0.10.2').argv).toEqual([
      '--num-redundant-experts',
      '16',
    ]);
    expect(renderSetting('eplb_num_redundant_experts', 16, '0.11.0').json).toEqual([
      { flag: '--eplb-config', key: 'num_redundant_experts', value: 16 },
    ]);
  });

  it('booleans: the flag, the --no- negation, or nothing; wrong types and choices are named', () => {
    expect(renderSetting('enable_prefix_caching', false, '0.11.0').argv).toEqual([
      '--no-enable-prefix-caching',
    ]);
    expect(renderSetting('enable_chunked_prefill', true, '0.9.2').argv).toEqual(['--enable-chunked-prefill']);
    expect(renderSetting('enable_expert_parallel', false, '0.11.0').argv).toEqual([]);
    expect(() => renderSetting('max_num_seqs', 1.5, '0.11.0', 'cell 3')).toThrow(
      /cell 3: max_num_seqs must be an integer/,
    );
    expect(() => renderSetting('kv_cache_dtype', 'int3', '0.11.0')).toThrow(/one of auto, fp8/);
    expect(() => renderSetting('max_num_sequences', 1, '0.11.0')).toThrow(/not a vLLM setting/);
  });
});

describe('renderServe (vllm)', () => {
  it('renders every W3 setting for 0.11.0 as argv, in a stable order, all2all through the env', () => {
    const r = renderServe(GLM, { port: 8000 });
    expect(r.argv.slice(0, 7)).toEqual([
      'vllm',
      'serve',
      'zai-org/GLM-4.6',
      '--host',
      '127.0.0.1',
      '--port',
      '8000',
    ]);
    expect(flagValue(r.argv, '--served-model-name')).toBe('glm');
    expect(flagValue(r.argv, '--tensor-parallel-size')).toBe('8');
    expect(flagValue(r.argv, '--pipeline-parallel-size')).toBe('2');
    // EP runs over vLLM's own DP ranks
    expect(flagValue(r.argv, '--data-parallel-size')).toBe('4');
    expect(r.argv).toContain('--enable-expert-parallel');
    expect(r.argv).not.toContain('--all2all-backend');
    expect(r.env.VLLM_ALL2ALL_BACKEND).toBe('deepep_low_latency');
    expect(JSON.parse(flagValue(r.argv, '--eplb-config')!)).toEqual({ num_redundant_experts: 32 });
    expect(flagValue(r.argv, '--kv-cache-dtype')).toBe('fp8_e5m2');
    expect(r.argv).toContain('--no-enable-prefix-caching');
    expect(r.argv).toContain('--enable-chunked-prefill');
    expect(flagValue(r.argv, '--max-num-partial-prefills')).toBe('2');
    expect(flagValue(r.argv, '--scheduling-policy')).toBe('priority');
    expect(JSON.parse(flagValue(r.argv, '--speculative-config')!)).toEqual(GLM.speculative_config);
    expect(r.argv).toContain('--enable-auto-tool-choice');
    expect(flagValue(r.argv, '--tool-call-parser')).toBe('glm45');
    expect(r.toolParser).toEqual({ name: 'glm45', from: 'config' });
    expect(r.argv.at(-1)).toBe('--trust-remote-code');
    expect(renderServe(GLM, { port: 8000 }).argv).toEqual(r.argv);
  });

  it('for 0.11.1 the all2all backend is a flag; for 0.10 the flat redundant-experts flag', () => {
    const r = renderServe({ ...GLM, version: '0.11.1' }, { port: 8000 });
    expect(flagValue(r.argv, '--all2all-backend')).toBe('deepep_low_latency');
    expect(r.env.VLLM_ALL2ALL_BACKEND).toBeUndefined();
    const o = renderServe({ ...GLM, version: '0.10.2' }, { port: 8000 });
    expect(flagValue(o.argv, '--num-redundant-experts')).toBe('32');
    expect(o.argv).not.toContain('--eplb-config');
  });

  it('the tool parser comes from knowledge/ unless given; false means none', () => {
    const oss = renderServe({ model: 'openai/gpt-oss-20b' }, { port: 1910 });
    expect(oss.toolParser).toEqual({ name: 'openai', from: 'knowledge' });
    expect(flagValue(oss.argv, '--tool-call-parser')).toBe('openai');
    expect(renderServe({ model: 'Qwen/Qwen3-32B-FP8' }, { port: 1 }).toolParser?.name).toBe('hermes');
    const none = renderServe({ model: 'openai/gpt-oss-20b', tool_call_parser: false }, { port: 1 });
    expect(none.argv).not.toContain('--enable-auto-tool-choice');
    // gpt-oss on 0.9.2: the pitfalls of that version come back with the argv
    const old = renderServe({ model: 'openai/gpt-oss-20b', version: '0.9.2' }, { port: 1 });
    expect(old.pitfalls.map((p) => p.id)).toContain('vllm-no-gpt-oss');
  });

  it('values with shell metacharacters stay single argv words (no shell)', () => {
    const r = renderServe(
      {
        model: 'm; rm -rf ~',
        served_model_name: '$(touch /x)',
        chat_template: 'a\'b"c`d`',
        tool_call_parser: 'hermes',
      },
      { port: 1 },
    );
    expect(r.argv[2]).toBe('m; rm -rf ~');
    expect(flagValue(r.argv, '--served-model-name')).toBe('$(touch /x)');
    expect(flagValue(r.argv, '--chat-template')).toBe('a\'b"c`d`');
  });
});

describe('renderServe (engine: sim)', () => {
  it('the same vLLM flag names on `servelab sim`; settings it does not model are listed', () => {
    const r = renderServe(
      { ...GLM, engine: 'sim', gpu: 'H200-141GB' },
      { port: 9000, servelab: ['node', 'bin/servelab.js'] },
    );
    expect(r.argv.slice(0, 6)).toEqual([
      'node',
      'bin/servelab.js',
      'sim',
      '--model',
      'zai-org/GLM-4.6',
      '--gpu',
    ]);
    expect(flagValue(r.argv, '--version-string')).toBe('0.11.0');
    // spelled as flags (never as environment) so the simulator sees and records every one
    expect(flagValue(r.argv, '--all2all-backend')).toBe('deepep_low_latency');
    expect(flagValue(r.argv, '--kv-cache-dtype')).toBe('fp8_e5m2');
    expect(r.env).toEqual({});
    expect(r.notModelled).toEqual([
      'data_parallel_size',
      'enable_expert_parallel',
      'all2all_backend',
      'enable_eplb',
      'eplb_num_redundant_experts',
      'enable_chunked_prefill',
      'max_num_partial_prefills',
      'speculative_config',
      'tool_call_parser',
    ]);
  });
});

describe('planServerProcesses', () => {
  it('DP replicas: a port, a log, a cache dir and TP x PP GPUs each', () => {
    const p = planServerProcesses(
      { model: 'openai/gpt-oss-20b', data_parallel_size: 4, tensor_parallel_size: 2 },
      {
        name: 'expert-1',
        basePort: 1910,
        gpus: [0, 1, 2, 3, 4, 5, 6, 7],
        cacheRoot: '/home/u/.cache/c',
        hostTag: 'n1',
      },
    );
    expect(p.processes.map((x) => [x.port, x.logName, x.env.CUDA_VISIBLE_DEVICES])).toEqual([
      [1910, 'expert-1-1910.log', '0,1'],
      [1911, 'expert-1-1911.log', '2,3'],
      [1912, 'expert-1-1912.log', '4,5'],
      [1913, 'expert-1-1913.log', '6,7'],
    ]);
    const dirs = p.processes.flatMap((x) => [x.env.TORCHINDUCTOR_CACHE_DIR, x.env.VLLM_CACHE_ROOT]);
    expect(new Set(dirs).size).toBe(8);
    expect(p.processes[0]!.env.TORCHINDUCTOR_CACHE_DIR).toBe('/home/u/.cache/c/n1-1910/torchinductor');
    expect(p.processes[0]!.argv).not.toContain('--data-parallel-size');
  });

  it('not enough GPUs is bad input naming the need', () => {
    expect(() =>
      planServerProcesses(
        { model: 'm', data_parallel_size: 3, tensor_parallel_size: 2 },
        { name: 's', basePort: 1, gpus: [0, 1, 2, 3], cacheRoot: '/h/c', hostTag: 'h' },
      ),
    ).toThrow(/3 process\(es\) x 2 GPU\(s\) need 6 GPUs, 4 given/);
  });

  it('cache roots: per user, never under a shared /tmp', () => {
    expect(compileCacheRoot({ home: '/home/ann', user: 'ann' })).toBe('/home/ann/.cache/servelab/compile');
    expect(compileCacheRoot({ home: '/home/ann', user: 'ann', root: '/scratch/c' })).toBe('/scratch/c/ann');
    expect(compileCacheRoot({ home: '/home/ann', user: 'ann', root: '/home/ann/cc' })).toBe('/home/ann/cc');
    for (const root of ['/tmp', '/tmp/x', '/var/tmp/c', '/dev/shm/c', '/tmp/../tmp/y']) {
      const e = (() => {
        try {
          compileCacheRoot({ home: '/home/ann', user: 'ann', root });
        } catch (x) {
          return x;
        }
      })();
      expect(e, root).toBeInstanceOf(ServelabError);
      expect((e as ServelabError).message).toMatch(/which compute nodes share/);
    }
    expect(() => compileCacheRoot({ home: '/h', user: 'u', root: 'rel' })).toThrow(/not an absolute path/);
  });
});

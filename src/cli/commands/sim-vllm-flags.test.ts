/**
 * `servelab sim` takes a vLLM recipe's argv (launch/vllm-recipe.ts, engine: sim) with vLLM's
 * flag names: the ones it models change the engine (KV capacity from kv_cache_dtype,
 * pipeline_parallel_size, gpu_memory_utilization), the rest are accepted and listed at start-up
 * as "not modelled", never dropped silently.
 */
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../errors.js';
import { renderServe, type VllmServerConfig } from '../../launch/vllm-recipe.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts the recipe on the simulator, returns its stderr and the /metrics page, stops it. */
async function startup(cfg: VllmServerConfig): Promise<{ err: string; metrics: string }> {
  const argv = renderServe({ ...cfg, engine: 'sim' }, { port: 0, servelab: [] }).argv;
  const ac = new AbortController();
  const c = captureIo({ signal: ac.signal });
  const run = runMain(argv, c.io);
  await waitFor(() => c.err.join('').includes('server(s) up') || c.err.join('').includes('Error')).catch(
    (e) => {
      throw new Error(`${(e as Error).message}: ${c.err.join('')}`);
    },
  );
  const url = c.out.join('').trim().split('\t')[1];
  const metrics = url ? await (await fetch(`${url}/metrics`)).text() : '';
  ac.abort();
  const code = await run;
  expect(code, c.err.join('')).toBe(EXIT.ok);
  return { err: c.err.join(''), metrics };
}

const kvTokens = (err: string) =>
  Number(/GPU KV cache size: ([\d,]+) tokens/.exec(err)![1]!.replaceAll(',', ''));

const BASE: VllmServerConfig = {
  model: 'meta-llama/Llama-3.1-8B-Instruct',
  gpu: 'H100-SXM-80GB',
  max_model_len: 8192,
  tool_call_parser: false,
};

describe('servelab sim with vLLM flag names', () => {
  it('honours kv_cache_dtype (fp8: about twice the KV tokens), gpu_memory_utilization, pipeline_parallel_size', async () => {
    const bf16 = kvTokens((await startup({ ...BASE, gpu_memory_utilization: 0.9 })).err);
    const fp8 = kvTokens(
      (await startup({ ...BASE, gpu_memory_utilization: 0.9, kv_cache_dtype: 'fp8_e5m2' })).err,
    );
    const more = kvTokens((await startup({ ...BASE, gpu_memory_utilization: 0.95 })).err);
    const pp2 = kvTokens(
      (await startup({ ...BASE, gpu_memory_utilization: 0.9, pipeline_parallel_size: 2 })).err,
    );
    expect(fp8 / bf16).toBeGreaterThan(1.9);
    expect(fp8 / bf16).toBeLessThan(2.1);
    expect(more).toBeGreaterThan(bf16);
    // each stage holds half the layers' KV and half the weights
    expect(pp2).toBeGreaterThan(bf16 * 2);
  });

  it('lists the flags it does not model, with their values; the modelled ones are not listed', async () => {
    const r = await startup({
      ...BASE,
      max_num_seqs: 64,
      max_num_batched_tokens: 4096,
      block_size: 32,
      enable_prefix_caching: false,
      enable_chunked_prefill: false,
      max_num_partial_prefills: 2,
      all2all_backend: 'pplx',
      enable_expert_parallel: true,
      dp_mode: 'replicas',
      scheduling_policy: 'priority',
      speculative_config: { method: 'ngram', num_speculative_tokens: 2 },
      tool_call_parser: 'hermes',
    });
    const line = r.err.split('\n').find((l) => l.includes('not modelled'));
    expect(line).toBe(
      'servelab sim: not modelled (accepted, no effect): --enable-expert-parallel, --all2all-backend pplx, ' +
        '--max-num-partial-prefills 2, --speculative-config {"method":"ngram","num_speculative_tokens":2}, ' +
        '--enable-auto-tool-choice, --tool-call-parser hermes, --no-enable-chunked-prefill',
    );
    expect(r.metrics).toMatch(/vllm:cache_config_info\{[^}]*block_size="32"/);
    expect(r.metrics).toMatch(/vllm:cache_config_info\{[^}]*enable_prefix_caching="False"/);
  });

  it('a kv_cache_dtype it does not know is bad input naming the flag', async () => {
    const c = captureIo({ signal: new AbortController().signal });
    const code = await runMain(
      ['sim', '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--kv-cache-dtype', 'int3'],
      c.io,
    );
    expect(code).toBe(EXIT.usage);
    expect(c.err.join('')).toMatch(/--kv-cache-dtype "int3" is not one of auto, fp8, fp8_e4m3, fp8_e5m2/);
  });
});

/**
 * W3's memory_batch phase on the simulator (examples/sim-memory-batch-8b.yaml): an 8B model at a
 * fixed request rate past saturation, one flag at a time, for bf16 KV and fp8 KV (two arms), in
 * virtual time (seconds). The directions a vLLM engineer expects, from the sweep's own
 * experiment_results.csv:
 * - fp8 KV: twice the KV blocks of bf16 ("auto") and fewer preemptions;
 * - higher gpu_memory_utilization: more KV blocks;
 * - larger max_num_batched_tokens: longer inter-token latency tails (more prefill per step
 *   slows the decodes, vLLM's optimization guide), fewer KV blocks (the profiling run's
 *   activation peak grows with the budget), and on TTFT both halves of the folklore at once:
 *   the MEDIAN is shorter (vLLM's guide: "higher values achieve better time to first token",
 *   more prompt tokens per step) and the TAIL (p99) is longer under load (the issue's "longer
 *   TTFT under load"): at 60 req/s the bf16 KV cache is full, a larger budget admits several
 *   prompts per step into it, the decodes then run out of blocks and vLLM V1 preempts the newest
 *   requests, which restart from their prompt (recompute) and make the p99.
 * Throughput: where the KV cache does not bind (the fp8 arm: no preemptions at any budget) a
 * larger budget gives higher throughput at saturation, as vLLM's guide says. With bf16 KV at
 * this load it does NOT rise, and that is measured: the preemptions above (15 -> 65) recompute
 * ~70k tokens, more than a larger step saves.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';

type Row = Record<string, string>;

function rows(csv: string): Row[] {
  const [head, ...lines] = csv.trim().split('\n');
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

describe('memory_batch sweep of an 8B model on the simulator (virtual time)', () => {
  it('shows the directions of fp8 KV, gpu_memory_utilization and max_num_batched_tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-'));
    const c = captureIo({ cwd: dir, env: {} });
    const code = await runMain(['sweep', resolve('examples/sim-memory-batch-8b.yaml'), '--virtual'], c.io);
    expect(code, c.err.join('')).toBe(0);
    const runDir = c.out.join('').match(/run directory: (.+)\n/)?.[1] as string;
    const all = rows(readFileSync(join(runDir, 'experiment_results.csv'), 'utf8'));
    const pick = (arm: string, gmu: string, mnbt: string): Row => {
      const r = all.find(
        (x) => x.arm === arm && x.gpu_memory_utilization === gmu && x.max_num_batched_tokens === mnbt,
      );
      if (!r) throw new Error(`no row ${arm} ${gmu} ${mnbt}: ${all.map((x) => x.run).join(', ')}`);
      return r;
    };
    const n = (r: Row, k: string) => Number(r[k]);
    const base = pick('bf16kv', '0.9', '2048');
    const fp8 = pick('fp8kv', '0.9', '2048');
    const gmu95 = pick('bf16kv', '0.95', '2048');
    const b8k = pick('bf16kv', '0.9', '8192');
    const b16k = pick('bf16kv', '0.9', '16384');
    expect(all).toHaveLength(8);
    for (const r of all) expect(n(r, 'success_rate')).toBe(1);
    // fp8 KV: about twice the capacity, fewer preemptions (the base preempts at this load)
    expect(n(fp8, 'kv_capacity_blocks') / n(base, 'kv_capacity_blocks')).toBeGreaterThan(1.9);
    expect(n(fp8, 'kv_capacity_blocks') / n(base, 'kv_capacity_blocks')).toBeLessThan(2.1);
    expect(n(base, 'preemptions')).toBeGreaterThan(0);
    expect(n(fp8, 'preemptions')).toBeLessThan(n(base, 'preemptions'));
    // higher gpu_memory_utilization: more KV blocks
    expect(n(gmu95, 'kv_capacity_blocks')).toBeGreaterThan(n(base, 'kv_capacity_blocks'));
    // larger token budget: longer ITL tails, fewer blocks (activation peak)
    expect(n(b8k, 'itl_p99_ms')).toBeGreaterThan(n(base, 'itl_p99_ms'));
    expect(n(b16k, 'itl_p99_ms')).toBeGreaterThan(n(b8k, 'itl_p99_ms'));
    expect(n(b8k, 'kv_capacity_blocks')).toBeLessThan(n(base, 'kv_capacity_blocks'));
    expect(n(b16k, 'kv_capacity_blocks')).toBeLessThan(n(b8k, 'kv_capacity_blocks'));
    // TTFT: shorter median (more prefill per step), longer p99 under load (preempted restarts)
    expect(n(b8k, 'ttft_p50_ms')).toBeLessThan(n(base, 'ttft_p50_ms'));
    expect(n(b16k, 'ttft_p50_ms')).toBeLessThan(n(base, 'ttft_p50_ms'));
    expect(n(b8k, 'ttft_p99_ms')).toBeGreaterThan(n(base, 'ttft_p99_ms') * 1.1);
    expect(n(b16k, 'ttft_p99_ms')).toBeGreaterThan(n(base, 'ttft_p99_ms') * 1.1);
    // ...because a larger budget fills the full bf16 cache faster: more preemptions
    expect(n(b8k, 'preemptions')).toBeGreaterThan(2 * n(base, 'preemptions'));
    expect(n(b16k, 'preemptions')).toBeGreaterThanOrEqual(n(b8k, 'preemptions'));
    // where the KV cache does not bind (fp8, no preemption at any budget): a larger budget,
    // higher throughput at saturation (measured 5,448 -> 5,570 -> 5,575 out tok/s)
    const f2k = fp8;
    const f8k = pick('fp8kv', '0.9', '8192');
    const f16k = pick('fp8kv', '0.9', '16384');
    for (const r of [f2k, f8k, f16k]) expect(n(r, 'preemptions')).toBe(0);
    expect(n(f8k, 'output_throughput_tok_s') / n(f2k, 'output_throughput_tok_s')).toBeGreaterThan(1.015);
    expect(n(f16k, 'output_throughput_tok_s') / n(f8k, 'output_throughput_tok_s')).toBeGreaterThan(0.995);
  });
});

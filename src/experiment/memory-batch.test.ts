/**
 * W3's memory_batch phase on the simulator (examples/sim-memory-batch-8b.yaml): an 8B model at a
 * fixed request rate past saturation, one flag at a time, in virtual time (seconds). The
 * directions a vLLM engineer expects, from the sweep's own experiment_results.csv:
 * - fp8 KV: twice the KV blocks of bf16 ("auto") and fewer preemptions;
 * - higher gpu_memory_utilization: more KV blocks;
 * - larger max_num_batched_tokens: longer inter-token latency tails (more prefill per step
 *   slows the decodes, vLLM's optimization guide), shorter TTFT (more prefill per step), and
 *   fewer KV blocks (the profiling run's activation peak grows with the budget).
 * Throughput is not asserted: the simulator's roofline gives a larger budget no throughput at
 * saturation (docs/BENCHMARKS.md "memory_batch sweep" says what it shows and why).
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
    const pick = (gmu: string, mnbt: string, kv: string): Row => {
      const r = all.find(
        (x) =>
          x.gpu_memory_utilization === gmu && x.max_num_batched_tokens === mnbt && x.kv_cache_dtype === kv,
      );
      if (!r) throw new Error(`no row ${gmu} ${mnbt} ${kv}: ${all.map((x) => x.run).join(', ')}`);
      return r;
    };
    const n = (r: Row, k: string) => Number(r[k]);
    const base = pick('0.9', '2048', 'auto');
    const fp8 = pick('0.9', '2048', 'fp8');
    const gmu95 = pick('0.95', '2048', 'auto');
    const b8k = pick('0.9', '8192', 'auto');
    const b16k = pick('0.9', '16384', 'auto');
    expect(all).toHaveLength(5);
    for (const r of all) expect(n(r, 'success_rate')).toBe(1);
    // fp8 KV: about twice the capacity, fewer preemptions (the base preempts at this load)
    expect(n(fp8, 'kv_capacity_blocks') / n(base, 'kv_capacity_blocks')).toBeGreaterThan(1.9);
    expect(n(fp8, 'kv_capacity_blocks') / n(base, 'kv_capacity_blocks')).toBeLessThan(2.1);
    expect(n(base, 'preemptions')).toBeGreaterThan(0);
    expect(n(fp8, 'preemptions')).toBeLessThan(n(base, 'preemptions'));
    // higher gpu_memory_utilization: more KV blocks
    expect(n(gmu95, 'kv_capacity_blocks')).toBeGreaterThan(n(base, 'kv_capacity_blocks'));
    // larger token budget: longer ITL tails, shorter TTFT, fewer blocks (activation peak)
    expect(n(b8k, 'itl_p99_ms')).toBeGreaterThan(n(base, 'itl_p99_ms'));
    expect(n(b16k, 'itl_p99_ms')).toBeGreaterThan(n(b8k, 'itl_p99_ms'));
    expect(n(b8k, 'ttft_p50_ms')).toBeLessThan(n(base, 'ttft_p50_ms'));
    expect(n(b16k, 'ttft_p50_ms')).toBeLessThan(n(base, 'ttft_p50_ms'));
    expect(n(b8k, 'kv_capacity_blocks')).toBeLessThan(n(base, 'kv_capacity_blocks'));
    expect(n(b16k, 'kv_capacity_blocks')).toBeLessThan(n(b8k, 'kv_capacity_blocks'));
  });
});

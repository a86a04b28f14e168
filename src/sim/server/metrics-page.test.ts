import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimServers, startSimServers } from './index.js';

let sim: SimServers;

beforeAll(async () => {
  sim = await startSimServers({
    servers: [{ model: 'm', port: 0, servedModelName: 'm' }].map((s) => ({
      ...s,
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      maxModelLen: 4096,
      stepTimeScale: 0.2,
    })),
    metricsNames: 'v1',
  });
});
afterAll(() => sim.close());

async function scrape(i: number): Promise<string> {
  const r = await fetch(`${sim.endpoints[i]!.url}/metrics`);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  return r.text();
}

function sample(text: string, name: string, labelPart = ''): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(name) && l.includes(labelPart) && !l.startsWith('#'));
  if (!line) throw new Error(`no sample ${name} ${labelPart}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function chat(i: number, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${sim.endpoints[i]!.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'm',
      messages: [{ role: 'user', content: 'hi there' }],
      max_tokens: 5,
      ...body,
    }),
  });
}

describe('/metrics', () => {
  it('has vLLM V1 names with HELP/TYPE, labels, _total counters and monotone histogram buckets', async () => {
    const t = await scrape(0);
    for (const name of [
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:kv_cache_usage_perc',
      'vllm:cache_config_info',
    ]) {
      expect(t).toContain(`# TYPE ${name} gauge`);
    }
    for (const name of [
      'prompt_tokens',
      'generation_tokens',
      'num_preemptions',
      'prefix_cache_queries',
      'prefix_cache_hits',
      'request_success',
    ]) {
      expect(t).toContain(`# TYPE vllm:${name}_total counter`);
      expect(t).toContain(`vllm:${name}_created{`);
    }
    expect(t).toMatch(
      /vllm:cache_config_info\{engine="0",model_name="m",block_size="16",.*num_gpu_blocks="\d+".*\} 1\.0/,
    );
    expect(t).toContain('vllm:request_success_total{engine="0",model_name="m",finished_reason="length"}');
    const hists = [...t.matchAll(/# TYPE (\S+) histogram/g)].map((m) => m[1]!);
    expect(hists).toEqual(
      expect.arrayContaining([
        'vllm:time_to_first_token_seconds',
        'vllm:inter_token_latency_seconds',
        'vllm:request_time_per_output_token_seconds',
        'vllm:e2e_request_latency_seconds',
        'vllm:request_queue_time_seconds',
        'vllm:request_prefill_time_seconds',
        'vllm:request_decode_time_seconds',
        'vllm:request_inference_time_seconds',
        'vllm:request_prompt_tokens',
        'vllm:request_generation_tokens',
        'vllm:iteration_tokens_total',
        'vllm:request_params_max_tokens',
      ]),
    );
    expect(t).toContain('vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="0.001"}');
    // the simulator's own self-check, outside vLLM's names: how far real time fell behind the model
    expect(t).toContain('# TYPE servelab:sim_realtime_lag_seconds_total counter');
    expect(t).toMatch(/servelab:sim_realtime_lag_seconds_total\{engine="0",model_name="m"\} 0(\.0)?\n/);
  });

  it('counters and histograms increase with traffic; buckets stay monotone; extra fields are counted', async () => {
    const before = await scrape(0);
    for (let i = 0; i < 3; i++) {
      const r = await chat(0, { stream: true, program_id: 'p', is_last_step: false });
      await r.text();
    }
    const after = await scrape(0);
    expect(sample(after, 'vllm:prompt_tokens_total')).toBeGreaterThan(
      sample(before, 'vllm:prompt_tokens_total'),
    );
    expect(sample(after, 'vllm:generation_tokens_total')).toBe(
      sample(before, 'vllm:generation_tokens_total') + 15,
    );
    expect(sample(after, 'vllm:e2e_request_latency_seconds_count')).toBe(
      sample(before, 'vllm:e2e_request_latency_seconds_count') + 3,
    );
    expect(sample(after, 'vllm:inter_token_latency_seconds_count')).toBeGreaterThan(0);
    expect(sample(after, 'servelab_sim_extra_fields_total', 'field="program_id"')).toBeGreaterThanOrEqual(3);
    expect(sample(after, 'servelab_sim_extra_fields_total', 'field="is_last_step"')).toBeGreaterThanOrEqual(
      3,
    );
    for (const h of ['vllm:time_to_first_token_seconds', 'vllm:request_generation_tokens']) {
      const buckets = after
        .split('\n')
        .filter((l) => l.startsWith(`${h}_bucket`))
        .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
      expect(buckets.length).toBeGreaterThan(3);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
      expect(buckets[buckets.length - 1]).toBe(sample(after, `${h}_count`));
    }
  });
});

describe('/metrics v0 names', () => {
  it('emits the pre-0.11 names', async () => {
    const old = await startSimServers({
      servers: [
        { model: 'meta-llama/Llama-3.1-8B-Instruct', servedModelName: 'm', port: 0, maxModelLen: 4096 },
      ],
      metricsNames: 'v0',
    });
    try {
      const t = await (await fetch(`${old.endpoints[0]!.url}/metrics`)).text();
      expect(t).toContain('# TYPE vllm:gpu_cache_usage_perc gauge');
      expect(t).toContain('vllm:gpu_prefix_cache_queries_total{');
      expect(t).toContain('vllm:gpu_prefix_cache_hits_total{');
      expect(t).toContain('# TYPE vllm:time_per_output_token_seconds histogram');
      expect(t).not.toContain('vllm:kv_cache_usage_perc');
    } finally {
      await old.close();
    }
  });
});

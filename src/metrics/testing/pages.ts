/**
 * Hand-written /metrics pages modelled on what real servers emit (prometheus_client layout:
 * counters declared with `_total`, `_created` as separate gauge families, one series per engine),
 * for tests and for the small test servers that stand in for vLLM / SGLang.
 */

const MODEL = 'Qwen/Qwen3-32B-FP8';

function hist(
  name: string,
  help: string,
  bounds: number[],
  perEngine: { engine: string; counts: number[]; sum: number }[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  const created: string[] = [];
  for (const { engine, counts, sum } of perEngine) {
    const lab = `engine="${engine}",model_name="${MODEL}"`;
    let cum = 0;
    bounds.forEach((b, i) => {
      cum += counts[i] ?? 0;
      lines.push(`${name}_bucket{${lab},le="${b.toFixed(3).replace(/\.?0+$/, '') || '0'}"} ${cum}.0`);
    });
    cum += counts[bounds.length] ?? 0;
    lines.push(
      `${name}_bucket{${lab},le="+Inf"} ${cum}.0`,
      `${name}_count{${lab}} ${cum}.0`,
      `${name}_sum{${lab}} ${sum}`,
    );
    created.push(`${name}_created{${lab}} 1.7321234567891234e+09`);
  }
  lines.push(`# HELP ${name}_created ${help}`, `# TYPE ${name}_created gauge`, ...created);
  return lines.join('\n');
}

export interface VllmPageState {
  kv: [number, number];
  running: [number, number];
  waiting: [number, number];
  preemptions: [number, number];
  queries: [number, number];
  hits: [number, number];
  prompt: [number, number];
  generation: [number, number];
  numGpuBlocks: [number, number];
}

export const DEFAULT_VLLM_STATE: VllmPageState = {
  kv: [0.25, 0.75],
  running: [3, 5],
  waiting: [1, 0],
  preemptions: [2, 4],
  queries: [1000, 3000],
  hits: [400, 1200],
  prompt: [5000, 7000],
  generation: [800, 900],
  numGpuBlocks: [1000, 3000],
};

/** A vLLM V1 page with two engines (data-parallel 2). `names: 'v0'` uses the pre-0.9.2 names. */
export function vllmPage(st: VllmPageState = DEFAULT_VLLM_STATE, names: 'v1' | 'v0' = 'v1'): string {
  const kvName = names === 'v1' ? 'vllm:kv_cache_usage_perc' : 'vllm:gpu_cache_usage_perc';
  const qName = names === 'v1' ? 'vllm:prefix_cache_queries' : 'vllm:gpu_prefix_cache_queries';
  const hName = names === 'v1' ? 'vllm:prefix_cache_hits' : 'vllm:gpu_prefix_cache_hits';
  const itlName = names === 'v1' ? 'vllm:inter_token_latency_seconds' : 'vllm:time_per_output_token_seconds';
  const engines = ['0', '1'] as const;
  const gauge = (name: string, help: string, vals: [number, number]) =>
    [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      ...engines.map((e, i) => `${name}{engine="${e}",model_name="${MODEL}"} ${vals[i]}`),
    ].join('\n');
  const counter = (name: string, help: string, vals: [number, number]) =>
    [
      `# HELP ${name}_total ${help}`,
      `# TYPE ${name}_total counter`,
      ...engines.map((e, i) => `${name}_total{engine="${e}",model_name="${MODEL}"} ${vals[i].toFixed(1)}`),
      `# HELP ${name}_created ${help}`,
      `# TYPE ${name}_created gauge`,
      ...engines.map((e) => `${name}_created{engine="${e}",model_name="${MODEL}"} 1.7321234567e+09`),
    ].join('\n');
  const parts = [
    '# HELP python_gc_objects_collected_total Objects collected during gc',
    '# TYPE python_gc_objects_collected_total counter',
    'python_gc_objects_collected_total{generation="0"} 12345.0',
    'python_gc_objects_collected_total{generation="1"} 678.0',
    '# HELP python_info Python platform information',
    '# TYPE python_info gauge',
    'python_info{implementation="CPython",major="3",minor="12",patchlevel="3",version="3.12.3"} 1.0',
    '# HELP process_virtual_memory_bytes Virtual memory size in bytes.',
    '# TYPE process_virtual_memory_bytes gauge',
    'process_virtual_memory_bytes 1.2345678e+10',
    '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.',
    '# TYPE process_start_time_seconds gauge',
    'process_start_time_seconds 1.73212345678e+09',
    '',
    '# HELP http_requests_total Total number of requests by method, status and handler.',
    '# TYPE http_requests_total counter',
    'http_requests_total{handler="/v1/chat/completions",method="POST",status="2xx"} 4242.0',
    'http_requests_total{handler="/metrics",method="GET",status="2xx"} 17.0',
    '# HELP http_request_duration_seconds Latency with only few buckets by handler.',
    '# TYPE http_request_duration_seconds histogram',
    'http_request_duration_seconds_bucket{handler="/metrics",le="0.1",method="GET"} 17.0',
    'http_request_duration_seconds_bucket{handler="/metrics",le="+Inf",method="GET"} 17.0',
    'http_request_duration_seconds_count{handler="/metrics",method="GET"} 17.0',
    'http_request_duration_seconds_sum{handler="/metrics",method="GET"} 0.0421',
    '# HELP http_request_duration_highr_seconds Latency summary.',
    '# TYPE http_request_duration_highr_seconds summary',
    'http_request_duration_highr_seconds{quantile="0.5"} 0.012',
    'http_request_duration_highr_seconds{quantile="0.99"} NaN',
    'http_request_duration_highr_seconds_sum 12.5',
    'http_request_duration_highr_seconds_count 4259',
    '# a plain comment line',
    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', st.running),
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', st.waiting),
    gauge(kvName, 'KV-cache usage. 1 means 100 percent usage.', st.kv),
    counter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', st.preemptions),
    counter(qName, 'Prefix cache queries, in terms of number of queried tokens.', st.queries),
    counter(hName, 'Prefix cache hits, in terms of number of cached tokens.', st.hits),
    counter('vllm:prompt_tokens', 'Number of prefill tokens processed.', st.prompt),
    counter('vllm:generation_tokens', 'Number of generation tokens processed.', st.generation),
    '# HELP vllm:request_success_total Count of successfully processed requests.',
    '# TYPE vllm:request_success_total counter',
    `vllm:request_success_total{engine="0",finished_reason="stop",model_name="${MODEL}"} 10.0`,
    `vllm:request_success_total{engine="0",finished_reason="length",model_name="${MODEL}"} 2.0`,
    `vllm:request_success_total{engine="1",finished_reason="stop",model_name="${MODEL}"} 7.0`,
    '# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig',
    '# TYPE vllm:cache_config_info gauge',
    ...engines.map(
      (e, i) =>
        `vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="${e}",gpu_memory_utilization="0.9",num_gpu_blocks="${st.numGpuBlocks[i]}",prefix_caching_hash_algo="builtin"} 1.0`,
    ),
    '# HELP vllm:lora_requests_info Running stats on lora requests.',
    '# TYPE vllm:lora_requests_info gauge',
    'vllm:lora_requests_info{max_lora="0",running_lora_adapters="",waiting_lora_adapters="a\\\\b \\"quoted\\"\\nnext"} 1.7e+09',
    hist(
      'vllm:time_to_first_token_seconds',
      'Histogram of time to first token in seconds.',
      [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      engines.map((e, i) => ({
        engine: e,
        counts: [0, 0, 1, 2, 3 + i, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0],
        sum: 0.5 + i,
      })),
    ),
    hist(
      itlName,
      'Histogram of inter-token latency in seconds.',
      [0.01, 0.025, 0.05, 0.1],
      engines.map((e) => ({ engine: e, counts: [10, 20, 5, 1, 0], sum: 1.2 })),
    ),
    hist(
      'vllm:e2e_request_latency_seconds',
      'Histogram of e2e request latency.',
      [0.3, 1, 5, 10],
      engines.map((e) => ({ engine: e, counts: [1, 2, 3, 4, 0], sum: 55 })),
    ),
  ];
  return `${parts.join('\n')}\n`;
}

/** An SGLang page (labels model_name, engine_type, tp_rank, pp_rank; Go-client style TYPE names). */
export function sglangPage(tokenUsage = 0.28, running = 4, queued = 2): string {
  const lab = `engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"`;
  return `${[
    '# HELP sglang:prompt_tokens_total Number of prefill tokens processed.',
    '# TYPE sglang:prompt_tokens_total counter',
    `sglang:prompt_tokens_total{${lab}} 8.128902e+06`,
    '# HELP sglang:generation_tokens_total Number of generation tokens processed.',
    '# TYPE sglang:generation_tokens_total counter',
    `sglang:generation_tokens_total{${lab}} 7.557572e+06`,
    '# HELP sglang:cached_tokens_total Number of cached prompt tokens.',
    '# TYPE sglang:cached_tokens_total counter',
    `sglang:cached_tokens_total{${lab}} 2.0e+06`,
    '# HELP sglang:num_retracted_requests_total Total number of retracted requests.',
    '# TYPE sglang:num_retracted_requests_total counter',
    `sglang:num_retracted_requests_total{${lab}} 3.0`,
    '# HELP sglang:token_usage The token usage',
    '# TYPE sglang:token_usage gauge',
    `sglang:token_usage{${lab}} ${tokenUsage}`,
    '# HELP sglang:num_running_reqs The number of running requests.',
    '# TYPE sglang:num_running_reqs gauge',
    `sglang:num_running_reqs{${lab}} ${running}`,
    '# HELP sglang:num_queue_reqs The number of requests in the waiting queue.',
    '# TYPE sglang:num_queue_reqs gauge',
    `sglang:num_queue_reqs{${lab}} ${queued}`,
    '# HELP sglang:cache_hit_rate The prefix cache hit rate.',
    '# TYPE sglang:cache_hit_rate gauge',
    `sglang:cache_hit_rate{${lab}} 0.007507552643049313`,
    '# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.',
    '# TYPE sglang:time_to_first_token_seconds histogram',
    `sglang:time_to_first_token_seconds_sum{${lab}} 2.3518979474117756e+06`,
    `sglang:time_to_first_token_seconds_bucket{le="0.1",${lab}} 1.0`,
    `sglang:time_to_first_token_seconds_bucket{le="1.0",${lab}} 3.0`,
    `sglang:time_to_first_token_seconds_bucket{le="+Inf",${lab}} 5.0`,
    `sglang:time_to_first_token_seconds_count{${lab}} 5.0`,
    '',
  ].join('\n')}`;
}

/** A ~100 KB page: the vLLM page plus many labelled histogram series (like a busy real server). */
export function bigVllmPage(): string {
  const extra: string[] = [
    '# HELP vllm:request_prompt_tokens Prompt tokens',
    '# TYPE vllm:request_prompt_tokens histogram',
  ];
  for (let e = 0; e < 8; e++) {
    for (const le of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, '+Inf']) {
      extra.push(
        `vllm:request_prompt_tokens_bucket{engine="${e}",le="${le === '+Inf' ? le : `${le}.0`}",model_name="${MODEL}"} ${e * 100 + 7}.0`,
      );
    }
    extra.push(`vllm:request_prompt_tokens_count{engine="${e}",model_name="${MODEL}"} ${e * 100 + 7}.0`);
    extra.push(`vllm:request_prompt_tokens_sum{engine="${e}",model_name="${MODEL}"} 123456.0`);
  }
  let page = vllmPage();
  while (page.length < 100_000)
    page += `${extra.join('\n').replaceAll('vllm:request_prompt_tokens', `vllm:x${page.length}`)}\n`;
  return page;
}

export interface DcgmGpu {
  gpu: number;
  uuid: string;
  utilPct: number;
  fbUsedMiB: number;
}

/**
 * A dcgm-exporter /metrics page (its default counters' HELP texts and label set: gpu, UUID,
 * device, modelName, Hostname, and the empty Kubernetes attribution labels outside a pod).
 */
export function dcgmPage(gpus: DcgmGpu[], o: { modelName?: string; hostname?: string } = {}): string {
  const model = o.modelName ?? 'NVIDIA H100 80GB HBM3';
  const host = o.hostname ?? 'gpu-node-1';
  const lab = (g: DcgmGpu) =>
    `gpu="${g.gpu}",UUID="${g.uuid}",device="nvidia${g.gpu}",modelName="${model}",Hostname="${host}",container="",namespace="",pod=""`;
  return [
    '# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).',
    '# TYPE DCGM_FI_DEV_GPU_UTIL gauge',
    ...gpus.map((g) => `DCGM_FI_DEV_GPU_UTIL{${lab(g)}} ${g.utilPct}`),
    '# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).',
    '# TYPE DCGM_FI_DEV_FB_USED gauge',
    ...gpus.map((g) => `DCGM_FI_DEV_FB_USED{${lab(g)}} ${g.fbUsedMiB}`),
    '',
  ].join('\n');
}

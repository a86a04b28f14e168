/**
 * /metrics in Prometheus text format with vLLM V1 names (or the older names with `v0`), labels
 * `model_name` and `engine="0"`, counters as `_total` with `_created`, histograms with vLLM's
 * buckets. Plus the sim-only family `servelab_sim_extra_fields_total{field=...}`, and with the
 * continuum policy its KV pins under `servelab:` names (a plain vLLM page stays vLLM's).
 */

import { type ParsedPage, type ParseResult, parsePrometheusText, type Sample } from '../../metrics/parse.js';
import type { PolicyStats } from '../engine-api.js';
import type { SimService } from '../service.js';
import type { Histogram } from '../service-metrics.js';

export type MetricsNames = 'v0' | 'v1';

function num(v: number): string {
  if (Number.isInteger(v)) return `${v}.0`;
  return String(v);
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(base: string, extra?: Record<string, string>): string {
  if (!extra) return `{${base}}`;
  const more = Object.entries(extra)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(',');
  return `{${base},${more}}`;
}

/** What a page is made of, in page order: the text ({@link Page}) or only its values ({@link PageValues}). */
interface PageSink {
  gauge(name: string, help: string, value: number, extra?: Record<string, string>): void;
  counter(name: string, help: string, samples: { value: number; extra?: Record<string, string> }[]): void;
  histogram(name: string, help: string, h: Histogram): void;
  /** a counter family named in full (`..._total`), its samples without `_created` lines */
  counterSeries(full: string, help: string, samples: Iterable<[string, number]>, label: string): void;
}

class Page implements PageSink {
  private readonly lines: string[] = [];
  constructor(
    private readonly base: string,
    private readonly createdSec: number,
  ) {}

  gauge(name: string, help: string, value: number, extra?: Record<string, string>): void {
    this.lines.push(
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      `${name}${labels(this.base, extra)} ${num(value)}`,
    );
  }

  counter(name: string, help: string, samples: { value: number; extra?: Record<string, string> }[]): void {
    const full = `${name}_total`;
    this.lines.push(`# HELP ${full} ${help}`, `# TYPE ${full} counter`);
    for (const s of samples) {
      this.lines.push(`${full}${labels(this.base, s.extra)} ${num(s.value)}`);
      this.lines.push(`${name}_created${labels(this.base, s.extra)} ${this.createdSec}`);
    }
  }

  histogram(name: string, help: string, h: Histogram): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    let cum = 0;
    for (let i = 0; i < h.buckets.length; i++) {
      cum += h.counts[i]!;
      this.lines.push(`${name}_bucket${labels(this.base, { le: num(h.buckets[i]!) })} ${num(cum)}`);
    }
    cum += h.counts[h.buckets.length]!;
    this.lines.push(`${name}_bucket${labels(this.base, { le: '+Inf' })} ${num(cum)}`);
    this.lines.push(`${name}_count${labels(this.base)} ${num(h.count)}`);
    this.lines.push(`${name}_sum${labels(this.base)} ${num(h.sum)}`);
    this.lines.push(`${name}_created${labels(this.base)} ${this.createdSec}`);
  }

  counterSeries(full: string, help: string, samples: Iterable<[string, number]>, label: string): void {
    this.lines.push(`# HELP ${full} ${help}`, `# TYPE ${full} counter`);
    for (const [v, n] of samples) this.lines.push(`${full}${labels(this.base, { [label]: v })} ${num(n)}`);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

export function renderMetrics(svc: SimService, names: MetricsNames): string {
  const p = new Page(baseLabels(svc), svc.metrics.createdSec);
  buildPage(svc, names, p);
  return p.text();
}

function baseLabels(svc: SimService): string {
  return `engine="0",model_name="${esc(svc.modelName)}"`;
}

function buildPage(svc: SimService, names: MetricsNames, p: PageSink): void {
  const cfg = svc.engine.config;
  const snap = svc.engine.snapshot();
  const c = snap.counters;
  const m = svc.metrics;
  const v0 = names === 'v0';

  p.gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', snap.running);
  p.gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', snap.waiting);
  p.gauge(
    v0 ? 'vllm:gpu_cache_usage_perc' : 'vllm:kv_cache_usage_perc',
    'KV-cache usage. 1 means 100 percent usage.',
    snap.kvUsageFrac,
  );
  p.gauge('vllm:cache_config_info', 'Information of the LLMEngine CacheConfig', 1, {
    block_size: String(cfg.blockSize),
    cache_dtype: cfg.kvCacheDtype,
    calculate_kv_scales: 'False',
    cpu_offload_gb: '0',
    enable_prefix_caching: cfg.enablePrefixCaching ? 'True' : 'False',
    gpu_memory_utilization: String(cfg.gpuMemoryUtilization),
    is_attention_free: 'False',
    num_cpu_blocks: 'None',
    num_gpu_blocks: String(cfg.numGpuBlocks),
    num_gpu_blocks_override: 'None',
    prefix_caching_hash_algo: 'sha256',
    sliding_window: 'None',
    swap_space: '4',
    swap_space_bytes: String(4 * 1024 ** 3),
  });
  p.gauge('vllm:lora_requests_info', 'Running stats on lora requests.', 0, {
    max_lora: '0',
    running_lora_adapters: '',
    waiting_lora_adapters: '',
  });
  p.counter(
    'servelab:sim_realtime_lag_seconds',
    'servelab simulator only (not a vLLM metric): seconds the engine fell behind its modelled step times because the host CPU could not keep up; nonzero means the simulator, not the modelled GPU, limited what clients saw.',
    [{ value: svc.engine.realTimeLagMs / 1000 }],
  );
  if (snap.policy?.policy === 'continuum') pinMetrics(p, snap.policy);
  p.counter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', [
    { value: c.preemptions },
  ]);
  p.counter('vllm:prompt_tokens', 'Number of prefill tokens processed.', [{ value: c.promptTokens }]);
  p.counter('vllm:generation_tokens', 'Number of generation tokens processed.', [
    { value: c.generationTokens },
  ]);
  p.counter(
    'vllm:request_success',
    'Count of successfully processed requests.',
    (['stop', 'length', 'abort'] as const).map((r) => ({
      value: c.finished[r],
      extra: { finished_reason: r },
    })),
  );
  p.counter(
    v0 ? 'vllm:gpu_prefix_cache_queries' : 'vllm:prefix_cache_queries',
    'Prefix cache queries, in terms of number of queried tokens.',
    [{ value: c.prefixQueries }],
  );
  p.counter(
    v0 ? 'vllm:gpu_prefix_cache_hits' : 'vllm:prefix_cache_hits',
    'Prefix cache hits, in terms of number of cached tokens.',
    [{ value: c.prefixHits }],
  );
  p.counter('vllm:prompt_tokens_cached', 'Number of cached prompt tokens (local prefix cache hits).', [
    { value: c.cachedPromptTokens },
  ]);
  p.histogram(
    'vllm:iteration_tokens_total',
    'Histogram of number of tokens per engine_step.',
    m.iterationTokens,
  );
  p.histogram('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', m.promptTokens);
  p.histogram('vllm:request_generation_tokens', 'Number of generation tokens processed.', m.generationTokens);
  p.histogram(
    'vllm:request_params_max_tokens',
    'Histogram of the max_tokens request parameter.',
    m.maxTokensParam,
  );
  p.histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', m.ttft);
  p.histogram(
    v0 ? 'vllm:time_per_output_token_seconds' : 'vllm:inter_token_latency_seconds',
    v0 ? 'Histogram of time per output token in seconds.' : 'Histogram of inter-token latency in seconds.',
    m.itl,
  );
  p.histogram(
    'vllm:request_time_per_output_token_seconds',
    'Histogram of time_per_output_token_seconds per request.',
    m.tpot,
  );
  p.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', m.e2e);
  p.histogram(
    'vllm:request_queue_time_seconds',
    'Histogram of time spent in WAITING phase for request.',
    m.queue,
  );
  p.histogram(
    'vllm:request_inference_time_seconds',
    'Histogram of time spent in RUNNING phase for request.',
    m.inference,
  );
  p.histogram(
    'vllm:request_prefill_time_seconds',
    'Histogram of time spent in PREFILL phase for request.',
    m.prefill,
  );
  p.histogram(
    'vllm:request_decode_time_seconds',
    'Histogram of time spent in DECODE phase for request.',
    m.decode,
  );

  p.counterSeries(
    'servelab_sim_extra_fields_total',
    'Sim only: extra top-level request fields received (vLLM ignores them).',
    m.extraFields,
    'field',
  );
  p.counterSeries(
    'servelab_sim_faults_injected_total',
    'Sim only: faults injected, by kind.',
    m.faults,
    'kind',
  );
}

/**
 * The values of a page in page order, as parsing its text gives them back, and what else than
 * values can change between two pages of one server (the continuum pins, the extra fields' and
 * faults' names): the page's shape.
 */
class PageValues implements PageSink {
  readonly values: number[] = [];
  shape = '';
  /** a value the text spells so that no parser reads it back (an integer of 1e21 or more: `1e+21.0`) */
  unreadable = false;
  constructor(private readonly createdSec: number) {}

  private v(x: number): void {
    if (Number.isInteger(x) && Math.abs(x) >= 1e21) this.unreadable = true;
    // num() writes -0 as "0.0": read back as 0
    this.values.push(x === 0 ? 0 : x);
  }
  private created(): void {
    const x = this.createdSec;
    this.values.push(x === 0 ? 0 : x);
  }

  gauge(name: string, _help: string, value: number): void {
    this.shape += `${name}\u0000`;
    this.v(value);
  }

  counter(name: string, _help: string, samples: { value: number }[]): void {
    this.shape += `${name}:${samples.length}\u0000`;
    for (const s of samples) {
      this.v(s.value);
      this.created();
    }
  }

  histogram(name: string, _help: string, h: Histogram): void {
    this.shape += `${name}:${h.buckets.length}\u0000`;
    let cum = 0;
    for (let i = 0; i < h.buckets.length; i++) {
      cum += h.counts[i]!;
      this.v(cum);
    }
    cum += h.counts[h.buckets.length]!;
    this.v(cum);
    this.v(h.count);
    this.v(h.sum);
    this.created();
  }

  counterSeries(full: string, _help: string, samples: Iterable<[string, number]>): void {
    this.shape += `${full}\u0000`;
    for (const [k, n] of samples) {
      this.shape += `${k}\u0000`;
      this.v(n);
    }
    this.shape += '\u0001';
  }
}

/** one server's page parsed once, and which family each of its samples is in */
interface PageTemplate {
  shape: string;
  page: ParsedPage;
  familyOf: number[];
}
const templates = new WeakMap<SimService, Partial<Record<MetricsNames, PageTemplate>>>();

/**
 * The page renderMetrics writes, parsed (the KV sampler's read in virtual time): the same
 * families, samples, labels and values as parsePrometheusText(renderMetrics(svc, names)) gives,
 * without writing and reading the text. The text is written and parsed once per server and
 * again when the page's shape changes; other pages take that parse's names and labels and
 * their own values.
 */
export function parsedMetrics(svc: SimService, names: MetricsNames): ParseResult {
  const vals = new PageValues(svc.metrics.createdSec);
  buildPage(svc, names, vals);
  let mine = templates.get(svc);
  const t = mine?.[names];
  if (vals.unreadable || !t || t.shape !== vals.shape) {
    const parsed = parsePrometheusText(renderMetrics(svc, names));
    if (parsed.ok && !vals.unreadable && parsed.page.samples.length === vals.values.length) {
      if (!mine) {
        mine = {};
        templates.set(svc, mine);
      }
      mine[names] = templateOf(vals.shape, parsed.page);
    }
    return parsed;
  }
  const fams = [...t.page.families.values()].map((f) => ({ ...f, samples: [] as Sample[] }));
  const samples: Sample[] = new Array(vals.values.length);
  const tpl = t.page.samples;
  for (let i = 0; i < tpl.length; i++) {
    const s = tpl[i]!;
    const out: Sample = { name: s.name, labels: s.labels, value: vals.values[i]! };
    samples[i] = out;
    fams[t.familyOf[i]!]!.samples.push(out);
  }
  return { ok: true, page: { families: new Map(fams.map((f) => [f.name, f])), samples } };
}

function templateOf(shape: string, page: ParsedPage): PageTemplate {
  const famIndex = new Map<Sample, number>();
  [...page.families.values()].forEach((f, i) => {
    for (const s of f.samples) famIndex.set(s, i);
  });
  return { shape, page, familyOf: page.samples.map((s) => famIndex.get(s)!) };
}

const PIN = 'servelab simulator, continuum policy (the Continuum fork has no such metric):';

/** The KV time-to-live pins (pinned blocks are also in vllm:kv_cache_usage_perc, as in the fork). */
function pinMetrics(p: PageSink, st: PolicyStats): void {
  p.gauge(
    'servelab:kv_pinned_requests',
    `${PIN} finished calls whose KV blocks are pinned now.`,
    st.pinnedRequests,
  );
  p.gauge('servelab:kv_pinned_blocks', `${PIN} distinct KV blocks the pins hold now.`, st.pinnedBlocks);
  p.gauge(
    'servelab:kv_pinned_only_blocks',
    `${PIN} KV blocks nothing but pins holds now (what pinning adds to vllm:kv_cache_usage_perc).`,
    st.pinnedOnlyBlocks,
  );
  p.counter('servelab:kv_pins_created', `${PIN} calls that ended in a tool call and were pinned.`, [
    { value: st.pinsCreated },
  ]);
  p.counter('servelab:kv_pins_expired', `${PIN} pins released at a step start after their TTL.`, [
    { value: st.pinsExpired },
  ]);
  p.counter('servelab:kv_pins_released', `${PIN} pins released before their TTL, by reason.`, [
    { value: st.pinsReleasedByNextCall, extra: { reason: 'next_call' } },
    { value: st.pinsReleasedUnderPressure, extra: { reason: 'pressure' } },
  ]);
  p.counter(
    'servelab:kv_pin_hits',
    `${PIN} calls admitted with a prefix hit while their program had a pin.`,
    [{ value: st.pinHits }],
  );
  p.counter('servelab:kv_pin_hit_tokens', `${PIN} prompt tokens of those prefix hits.`, [
    { value: st.pinHitTokens },
  ]);
}

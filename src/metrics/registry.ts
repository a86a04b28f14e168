/**
 * Canonical series per server kind: which metric names carry KV usage, queue lengths,
 * preemptions, prefix-cache counters, token counters and latency histograms, in order of
 * preference (current names first, then the names older versions used). Facts:
 * shared/reference/serving-api.md (vLLM renames: deprecated in X.Y, hidden X.Y+1, removed X.Y+2).
 */
import type { ParsedPage, Sample } from './parse.js';

export type ServerKind = 'vllm' | 'sglang';

export type GaugeKey = 'kvUsageFrac' | 'running' | 'waiting';
export type CounterKey = 'preemptions' | 'prefixQueries' | 'prefixHits' | 'promptTokens' | 'generationTokens';
export type HistogramKey = 'ttft' | 'itl' | 'e2e';
export type CanonicalKey = GaugeKey | CounterKey | HistogramKey;

export interface Candidate {
  /** the family name as the server emits it (counters without `_total`) */
  name: string;
  /** first version that has it ("0.9.2"); absent: always */
  since?: string;
  /** first version that no longer exposes it by default */
  hiddenIn?: string;
  note?: string;
}

export interface KindSpec {
  prefix: string;
  /** the label that tells engines (data-parallel ranks) apart, in order of preference */
  engineLabels: readonly string[];
  gauges: Record<GaugeKey, Candidate[]>;
  counters: Record<CounterKey, Candidate[]>;
  histograms: Record<HistogramKey, Candidate[]>;
}

export const REGISTRY: Record<ServerKind, KindSpec> = {
  vllm: {
    prefix: 'vllm:',
    engineLabels: ['engine'],
    gauges: {
      kvUsageFrac: [
        { name: 'vllm:kv_cache_usage_perc', since: '0.9.2' },
        { name: 'vllm:gpu_cache_usage_perc', hiddenIn: '0.11.0', note: 'V0 name' },
      ],
      running: [{ name: 'vllm:num_requests_running' }],
      waiting: [{ name: 'vllm:num_requests_waiting' }],
    },
    counters: {
      promptTokens: [{ name: 'vllm:prompt_tokens' }],
      generationTokens: [{ name: 'vllm:generation_tokens' }],
      preemptions: [{ name: 'vllm:num_preemptions' }],
      prefixQueries: [
        { name: 'vllm:prefix_cache_queries', since: '0.9.2' },
        { name: 'vllm:gpu_prefix_cache_queries', hiddenIn: '0.11.0', note: 'V0 name' },
      ],
      prefixHits: [
        { name: 'vllm:prefix_cache_hits', since: '0.9.2' },
        { name: 'vllm:gpu_prefix_cache_hits', hiddenIn: '0.11.0', note: 'V0 name' },
      ],
    },
    histograms: {
      ttft: [{ name: 'vllm:time_to_first_token_seconds' }],
      itl: [
        { name: 'vllm:inter_token_latency_seconds', since: '0.11.0' },
        { name: 'vllm:time_per_output_token_seconds', hiddenIn: '0.12.0', note: 'V0 name' },
      ],
      e2e: [{ name: 'vllm:e2e_request_latency_seconds' }],
    },
  },
  sglang: {
    prefix: 'sglang:',
    engineLabels: ['engine', 'dp_rank'],
    gauges: {
      kvUsageFrac: [{ name: 'sglang:token_usage', note: 'token-pool usage, a 0-1 fraction' }],
      running: [{ name: 'sglang:num_running_reqs' }],
      waiting: [{ name: 'sglang:num_queue_reqs' }],
    },
    counters: {
      promptTokens: [{ name: 'sglang:prompt_tokens' }],
      generationTokens: [{ name: 'sglang:generation_tokens' }],
      // SGLang calls preemption "retraction"; older versions only had a gauge of requests
      // retracted now (sglang:num_retracted_reqs), which cannot give a count over a run
      preemptions: [{ name: 'sglang:num_retracted_requests', note: 'retracted requests' }],
      // SGLang counts cached prompt tokens; every prompt token is a prefix-cache query
      prefixQueries: [{ name: 'sglang:prompt_tokens', note: 'all prompt tokens count as queries' }],
      prefixHits: [{ name: 'sglang:cached_tokens' }],
    },
    histograms: {
      ttft: [{ name: 'sglang:time_to_first_token_seconds' }],
      itl: [{ name: 'sglang:inter_token_latency_seconds' }, { name: 'sglang:time_per_output_token_seconds' }],
      e2e: [{ name: 'sglang:e2e_request_latency_seconds' }],
    },
  },
};

/** Compares dotted versions numerically ("0.10.2" > "0.9.2"); non-numeric parts compare as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Candidates in the order to try them. With a known version, names the version exposes come
 * first; the others stay as fallbacks (servers started with `--show-hidden-metrics-for-version`).
 */
export function candidatesFor(list: Candidate[], version?: string): Candidate[] {
  if (!version) return list;
  const exposed = (c: Candidate) =>
    (!c.since || compareVersions(version, c.since) >= 0) &&
    (!c.hiddenIn || compareVersions(version, c.hiddenIn) < 0);
  return [...list.filter(exposed), ...list.filter((c) => !exposed(c))];
}

/** Which kind of server wrote this page, from its metric names; undefined for neither. */
export function detectKind(page: ParsedPage): ServerKind | undefined {
  for (const name of page.families.keys()) {
    if (name.startsWith('vllm:')) return 'vllm';
    if (name.startsWith('sglang:')) return 'sglang';
  }
  return undefined;
}

/** The samples of a family, counters read through `_total` (either family layout). */
export function familySamples(page: ParsedPage, name: string, role: 'gauge' | 'counter'): Sample[] {
  if (role === 'gauge') return page.families.get(name)?.samples.filter((s) => s.name === name) ?? [];
  const total = `${name}_total`;
  const fam = page.families.get(name) ?? page.families.get(total);
  const out = fam?.samples.filter((s) => s.name === total) ?? [];
  // a counter exposed without the suffix (untyped, or a gauge like sglang:num_retracted_reqs)
  if (out.length === 0) return page.families.get(name)?.samples.filter((s) => s.name === name) ?? [];
  return out;
}

/** Every metric name a sampler accepts as "KV usage", in preference order. */
export const KV_USAGE_NAMES: readonly string[] = [
  ...REGISTRY.vllm.gauges.kvUsageFrac.map((c) => c.name),
  ...REGISTRY.sglang.gauges.kvUsageFrac.map((c) => c.name),
];

/**
 * Names that mean the same series across versions and kinds (the sampler's fallbacks): the
 * given name first, then the other names of its canonical key, this kind's before the other's.
 */
export function aliasesOf(metric: string): string[] {
  const kinds = Object.keys(REGISTRY) as ServerKind[];
  for (const kind of kinds) {
    const spec = REGISTRY[kind];
    for (const section of ['gauges', 'counters', 'histograms'] as const) {
      const groups = spec[section] as Record<string, Candidate[]>;
      for (const [key, group] of Object.entries(groups)) {
        if (!group.some((c) => c.name === metric)) continue;
        const others = kinds
          .filter((k) => k !== kind)
          .flatMap((k) =>
            ((REGISTRY[k][section] as Record<string, Candidate[]>)[key] ?? []).map((c) => c.name),
          );
        return [...new Set([metric, ...group.map((c) => c.name), ...others])];
      }
    }
  }
  return [metric];
}

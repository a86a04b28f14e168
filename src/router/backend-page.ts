/**
 * What the router reads from a backend's /metrics page: KV capacity in tokens from
 * `vllm:cache_config_info` (num_gpu_blocks x block_size, summed over the page's engines) and
 * the KV usage fraction from `vllm:kv_cache_usage_perc` (pre-0.11 name `vllm:gpu_cache_usage_perc`),
 * weighted by each engine's blocks when the page has several.
 */
import { parsePrometheusText, type Sample } from '../metrics/parse.js';

export interface BackendPage {
  capacityTokens?: number;
  kvUsageFrac?: number;
}

export type BackendPageResult = { ok: true; page: BackendPage } | { ok: false; message: string };

const USAGE_NAMES = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];

export function readBackendPage(text: string): BackendPageResult {
  const r = parsePrometheusText(text);
  if (!r.ok) return { ok: false, message: `line ${r.error.line}: ${r.error.message}` };
  const blocksByEngine = new Map<string, number>();
  let capacity: number | undefined;
  for (const s of r.page.samples) {
    if (s.name !== 'vllm:cache_config_info') continue;
    const blocks = Number(s.labels.num_gpu_blocks);
    const size = Number(s.labels.block_size);
    if (!Number.isFinite(blocks) || !Number.isFinite(size) || blocks <= 0 || size <= 0) continue;
    const engine = engineOf(s);
    if (blocksByEngine.has(engine)) continue;
    blocksByEngine.set(engine, blocks);
    capacity = (capacity ?? 0) + blocks * size;
  }
  let usage: number | undefined;
  for (const name of USAGE_NAMES) {
    const samples = r.page.samples.filter((s) => s.name === name && Number.isFinite(s.value));
    if (samples.length === 0) continue;
    let w = 0;
    let sum = 0;
    for (const s of samples) {
      const weight = blocksByEngine.get(engineOf(s)) ?? 1;
      w += weight;
      sum += weight * s.value;
    }
    usage = sum / w;
    break;
  }
  return {
    ok: true,
    page: {
      ...(capacity !== undefined ? { capacityTokens: capacity } : {}),
      ...(usage !== undefined ? { kvUsageFrac: usage } : {}),
    },
  };
}

function engineOf(s: Sample): string {
  return `${s.labels.engine ?? ''}\u0000${s.labels.model_name ?? ''}`;
}

import { describe, expect, it } from 'vitest';
import { readBackendPage } from './backend-page.js';

describe('readBackendPage', () => {
  it('capacity = num_gpu_blocks x block_size summed over engines; usage weighted by their blocks', () => {
    const page = [
      '# TYPE vllm:cache_config_info gauge',
      'vllm:cache_config_info{block_size="16",engine="0",model_name="m",num_gpu_blocks="1000"} 1.0',
      'vllm:cache_config_info{block_size="16",engine="1",model_name="m",num_gpu_blocks="3000"} 1.0',
      '# TYPE vllm:kv_cache_usage_perc gauge',
      'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2',
      'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6',
      '',
    ].join('\n');
    // 16 x (1000 + 3000) = 64000; (1000 x 0.2 + 3000 x 0.6) / 4000 = 0.5
    expect(readBackendPage(page)).toEqual({ ok: true, page: { capacityTokens: 64000, kvUsageFrac: 0.5 } });
  });

  it("reads the pre-0.11 usage name, and says when the page has no cache_config_info or isn't Prometheus", () => {
    expect(readBackendPage('vllm:gpu_cache_usage_perc{engine="0"} 0.25\n')).toEqual({
      ok: true,
      page: { kvUsageFrac: 0.25 },
    });
    const bad = readBackendPage('{"backends": {}}');
    expect(bad.ok).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { pitfallForError, pitfallsFor, toolParserFor } from '../knowledge/pitfalls.js';
import { createMonitor } from './monitor.js';

const ids = (q: Parameters<typeof pitfallsFor>[0]) => pitfallsFor(q).map((p) => p.id);

describe('version pitfalls (WORKFLOWS.md W4)', () => {
  it('apply by version, model and tool use', () => {
    expect(ids({ server: 'vllm', version: '0.12.0', model: 'Qwen/Qwen3-32B', tools: true })).toContain(
      'vllm-0.12.0-tool-parsers',
    );
    expect(ids({ server: 'vllm', version: '0.12.0', model: 'Qwen/Qwen3-32B', tools: false })).not.toContain(
      'vllm-0.12.0-tool-parsers',
    );
    expect(ids({ server: 'vllm', version: '0.9.2', model: 'openai/gpt-oss-20b' })).toContain(
      'vllm-no-gpt-oss',
    );
    expect(
      ids({ server: 'vllm', version: '0.9.2', model: 'Qwen/Qwen3-Next-80B-A3B-Instruct-FP8' }),
    ).toContain('vllm-no-qwen3-next');
    expect(ids({ server: 'vllm', version: '0.10.1', model: 'openai/gpt-oss-20b', tools: true })).toContain(
      'vllm-gpt-oss-openai-parser',
    );
    const safe = ids({ server: 'vllm', version: '0.11.0', model: 'openai/gpt-oss-20b', tools: true });
    expect(safe.filter((id) => id !== 'vllm-v0-metric-names-hidden')).toEqual([]);
    expect(ids({ server: 'vllm', model: 'openai/gpt-oss-20b', tools: true })).toEqual([]);
  });

  it('recognise the 0.12.0 error and name tool parsers', () => {
    expect(pitfallForError("extract_tool_calls() got an unexpected keyword argument 'token_ids'")?.id).toBe(
      'vllm-0.12.0-tool-parsers',
    );
    expect(pitfallForError('something else')).toBeUndefined();
    expect(toolParserFor('openai/gpt-oss-120b')).toBe('openai');
    expect(toolParserFor('Qwen/Qwen3-Next-80B-A3B-Instruct-FP8')).toBe('hermes');
    expect(toolParserFor('/ckpt/Nemotron-Orchestrator-8B')).toBe('hermes');
  });
});

describe('monitor block', () => {
  it('shows GPU use from nvidia-smi and a server without /metrics', async () => {
    const mon = createMonitor({
      endpoints: [{ url: 'http://127.0.0.1:9', label: 'router' }],
      fetchText: async (url) =>
        url.endsWith('/health')
          ? { ok: true, status: 200, text: '' }
          : { ok: false, kind: 'http', status: 404, message: 'HTTP 404' },
      execFile: async () => ({
        stdout:
          'index, memory.used [MiB], memory.total [MiB], utilization.gpu [%]\n0, 30720 MiB, 32768 MiB, 97 %\n',
        stderr: '',
      }),
      nowMs: () => 1_700_000_000_000,
    });
    const t = await mon.tick();
    expect(t.text).toBe(
      '== 2023-11-14T22:13:20.000Z  tick 1 ==\n  router    up    no /metrics (HTTP 404)\n  GPU  0: 30.0/32.0 GiB 97%\n',
    );
  });
});

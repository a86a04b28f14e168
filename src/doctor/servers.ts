/**
 * Running servers: the preflight's probe (port, /health, /v1/models, /version and its version
 * pitfalls; the smoke and tool-call completions only when asked), then /metrics (the KV sampler's
 * source; cache_config_info's gpu_memory_utilization beside speculative decoding), and the
 * versions of servers of one model against each other.
 */
import { versionWarnings } from '../experiment/run-experiment.js';
import { SPEC_DECODE_GPU_MEMORY_UTILIZATION, VLLM_SAFE_SERIES } from '../knowledge/pitfalls.js';
import { type FetchText, fetchTextUndici } from '../metrics/fetch.js';
import { parsePrometheusText } from '../metrics/parse.js';
import { checkEndpoints, type Problem, type ProblemCode } from '../preflight/index.js';
import type { CheckId, Finding } from './findings.js';
import type { ProbeTarget } from './inputs.js';

export interface ServerOptions {
  /** the chat and tool-call completions of `servelab check` too (default false) */
  smoke?: boolean;
  apiKey?: string;
  httpTimeoutMs?: number;
  fetchText?: FetchText;
  signal?: AbortSignal;
}

const CHECK_OF: Partial<Record<ProblemCode, CheckId>> = {
  pitfall: 'vllm-version',
  tool_call_as_text: 'tool-parser',
  tool_call_failed: 'tool-parser',
  no_tool_call: 'tool-parser',
};

const WHY_OF: Partial<Record<ProblemCode, string>> = {
  pitfall: 'a known breakage of this version (WORKFLOWS.md W4)',
  not_listening: 'nothing accepts connections on that port',
  unreachable: 'no connection could be made',
  tool_call_as_text: "the server's tool-call parser does not read this model's format",
};

function fromProblem(where: string, p: Problem): Finding {
  return {
    check: CHECK_OF[p.code] ?? 'server',
    severity: p.severity === 'warn' ? 'warning' : p.severity,
    where,
    message: p.message,
    why: WHY_OF[p.code] ?? 'found by the same probe as `servelab check`',
    fix: p.hint ?? 'see the message',
  };
}

/** Probes every target; never throws for a server's problems (they are findings). */
export async function checkServers(
  targets: readonly ProbeTarget[],
  opts: ServerOptions = {},
): Promise<Finding[]> {
  const fetchText = opts.fetchText ?? fetchTextUndici;
  const timeoutMs = opts.httpTimeoutMs ?? 5000;
  const rep = await checkEndpoints({
    endpoints: targets.map((t) => ({
      url: t.url,
      tools: t.tools,
      ...(t.model ? { model: t.model } : {}),
      ...(t.label ? { label: t.label } : {}),
    })),
    smoke: opts.smoke ?? false,
    gpu: false,
    httpTimeoutMs: timeoutMs,
    connectTimeoutMs: Math.min(timeoutMs, 3000),
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const out: Finding[] = [];
  const versions: Record<string, unknown>[] = [];
  for (const e of rep.endpoints) {
    const where = `${e.label} (${e.url})`;
    out.push(...e.problems.map((p) => fromProblem(where, p)));
    if (e.stages.tcp?.status !== 'ok' || e.stages.health?.status !== 'ok') continue;
    versions.push({ model: e.model, version: e.version, arm: e.label });
    if (!e.version)
      out.push({
        check: 'vllm-version',
        severity: 'info',
        where,
        message: 'the server answers no /version: its known breakages cannot be checked',
        why: `vLLM answers /version; 0.12.0 breaks every tool parser, 0.9.2 lacks gpt-oss and Qwen3-Next (${VLLM_SAFE_SERIES} is the safe choice)`,
        fix: 'nothing, if this is not vLLM (a router, SGLang); else check the version by hand',
      });
    const page = await fetchText(`${e.url}/metrics`, {
      timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.apiKey ? { headers: { authorization: `Bearer ${opts.apiKey}` } } : {}),
    });
    const parsed = page.ok ? parsePrometheusText(page.text) : undefined;
    if (!parsed?.ok) {
      out.push({
        check: 'server',
        severity: 'warning',
        where,
        message: page.ok ? '/metrics is not Prometheus text' : `no /metrics (${page.message})`,
        why: 'KV-cache usage, preemptions and queue length are read from /metrics: a run records none of them from this server',
        fix: 'sample the backend port instead (a router in front of vLLM often has no Prometheus /metrics: metrics.ports in the spec)',
      });
      continue;
    }
    const info = parsed.page.samples.find((s) => s.name === 'vllm:cache_config_info');
    const gmu = info ? Number(info.labels.gpu_memory_utilization) : Number.NaN;
    const spec = parsed.page.samples.some((s) => s.name.startsWith('vllm:spec_decode_num_drafts'));
    if (spec && gmu > SPEC_DECODE_GPU_MEMORY_UTILIZATION)
      out.push({
        check: 'spec-decode',
        severity: 'warning',
        where,
        message: `speculative decoding is on (vllm:spec_decode_* on /metrics) with gpu_memory_utilization ${gmu} (vllm:cache_config_info)`,
        why: `the draft's weights, KV cache and activations come out of the same GPU budget; our users run these pairs at ${SPEC_DECODE_GPU_MEMORY_UTILIZATION} (W4)`,
        fix: `restart with --gpu-memory-utilization ${SPEC_DECODE_GPU_MEMORY_UTILIZATION}`,
      });
  }
  // servers of one model on different versions: the comparison's first confound (W2)
  for (const w of versionWarnings(versions.filter((v) => v.version !== undefined)))
    out.push({
      check: 'arms-differ',
      severity: 'warning',
      where: targets.map((t) => t.url).join(', '),
      message: w,
      why: "W2's arms ran different vLLM versions: part of every difference was the version",
      fix: 'run every server of a comparison on the same vLLM release',
    });
  return out;
}

/**
 * Preflight of OpenAI-compatible endpoints, in the order a person checks them by hand
 * (WORKFLOWS.md W1): the port LISTENs, /health, /v1/models (is the expected model served),
 * /version, one chat completion and, where tools are expected, one tool-call completion; with
 * the response quirks and known version pitfalls named. Problems are data; `ready` says whether
 * a run can start.
 */
import { createHttpTransport } from '../client/index.js';
import { pitfallForError, pitfallsFor, toolParserFor } from '../knowledge/pitfalls.js';
import type { CallResult, Quirk, ToolSpec, Transport } from '../loadgen/transport.js';
import { type FetchText, fetchTextUndici } from '../metrics/fetch.js';
import { capServerText } from '../server-text.js';
import { setTimer } from '../timers.js';
import { type ExecFileFn, type GpuReport, queryGpus } from './gpu.js';
import { probeTcp } from './tcp.js';

export interface EndpointSpec {
  /** the server: http://host:port (a trailing /v1 is fine) */
  url: string;
  /** the model name the endpoint must serve; absent: whatever it serves */
  model?: string;
  label?: string;
  /** make one tool-call completion too (the orchestrator) */
  tools?: boolean;
  /** extra headers for the smoke calls (e.g. x-servelab-fault for the simulator) */
  headers?: Record<string, string>;
}

export type StageName = 'tcp' | 'health' | 'models' | 'version' | 'chat' | 'tools';
export type StageStatus = 'ok' | 'fail' | 'warn' | 'skip';

export interface StageResult {
  status: StageStatus;
  detail: string;
  ms?: number;
}

export type ProblemCode =
  | 'not_listening'
  | 'unreachable'
  | 'health_failed'
  | 'models_failed'
  | 'model_not_served'
  | 'chat_failed'
  | 'tool_call_failed'
  | 'tool_call_as_text'
  | 'no_tool_call'
  | 'quirk'
  | 'pitfall'
  | 'bad_url';

export interface Problem {
  code: ProblemCode;
  severity: 'error' | 'warn' | 'info';
  message: string;
  hint?: string;
}

export interface EndpointReport {
  label: string;
  url: string;
  /** the model checked: the expected one, else the first served */
  model?: string;
  ready: boolean;
  stages: Partial<Record<StageName, StageResult>>;
  /** the served model names (each capped as server text is, the first MAX_SERVED_LISTED) */
  served: string[];
  /** how many names /v1/models listed, when more than MAX_SERVED_LISTED */
  servedCount?: number;
  version?: string;
  quirks: Quirk[];
  problems: Problem[];
}

export interface CheckReport {
  ready: boolean;
  endpoints: EndpointReport[];
  gpu: GpuReport | { available: false; reason: 'not checked' };
  attempts: number;
  elapsedMs: number;
}

export interface CheckOptions {
  endpoints: EndpointSpec[];
  /** chat / tool-call completions (default true) */
  smoke?: boolean;
  /** poll until all are ready or this much time has passed (0: one attempt) */
  waitMs?: number;
  connectTimeoutMs?: number;
  httpTimeoutMs?: number;
  chatTimeoutMs?: number;
  /** max_tokens of the smoke chat (default 32) */
  smokeMaxTokens?: number;
  /** query nvidia-smi when it exists (default true) */
  gpu?: boolean;
  execFile?: ExecFileFn;
  /** bearer token for /v1/models, /version and the smoke calls (vLLM --api-key); never printed */
  apiKey?: string;
  transport?: Transport;
  fetchText?: FetchText;
  signal?: AbortSignal;
  /** one line per attempt while waiting */
  onProgress?: (line: string) => void;
}

const WEATHER_TOOL: ToolSpec = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'the city name' } },
      required: ['city'],
    },
  },
};

/**
 * The smoke chat's prompt for a model. Qwen3 (hybrid thinking) gets `/no_think`, as W1 calls
 * it (WORKFLOWS.md): it then answers after an empty think block instead of thinking past the
 * check's 32 tokens. A model that still thinks past max_tokens is a real finding (the warning
 * length_cut_inside_think stays for it).
 */
export function smokePrompt(model: string): string {
  const base = 'Say hello in one short sentence.';
  return /qwen3/i.test(model) ? `${base} /no_think` : base;
}

const QUIRK_TEXT: Partial<Record<Quirk, { message: string; hint: string }>> = {
  content_null_with_reasoning: {
    message: 'content is null; the text is in reasoning_content / reasoning (gpt-oss does this)',
    hint: 'not a bug: read the reasoning fields (servelab does); give max_tokens room for the answer after the reasoning',
  },
  think_in_content: {
    message: 'a <think> block arrives inside content (Qwen3: thinking on, or an empty block after /no_think)',
    hint: 'not a bug: servelab moves it to reasoning; send chat_template_kwargs {"enable_thinking": false} or /no_think to turn it off',
  },
  length_cut_inside_think: {
    message:
      'stopped by max_tokens (finish_reason "length") while still inside <think>: no answer text at all',
    hint: 'raise max_tokens or disable thinking; counting these as answers undercounts failures',
  },
  usage_missing: {
    message: 'the stream carried no usage chunk',
    hint: 'token counts fall back to counting chunks; vLLM: --enable-force-include-usage',
  },
};

function splitUrl(url: string): { origin: string; host: string; port: number } | undefined {
  try {
    const u = new URL(url.includes('://') ? url : `http://${url}`);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { origin: u.origin, host: u.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

/** How many served model names a report keeps and prints (a server may list thousands). */
export const MAX_SERVED_LISTED = 50;

function errText(r: CallResult): string {
  return r.error
    ? `${r.error.kind}${r.error.httpStatus ? ` (HTTP ${r.error.httpStatus})` : ''}: ${r.error.message}`
    : r.status;
}

/** The served names as printed: quoted or bare, and how many more there were. */
function servedList(rep: EndpointReport, quoted = true): string {
  if (rep.served.length === 0) return 'nothing';
  const names = rep.served.map((n) => (quoted ? `"${n}"` : n)).join(', ');
  return rep.servedCount ? `${names} and ${rep.servedCount - rep.served.length} more` : names;
}

/** Checks one endpoint once. Never throws. */
export async function checkOne(
  spec: EndpointSpec,
  opts: CheckOptions,
  transport: Transport,
): Promise<EndpointReport> {
  const fetchText = opts.fetchText ?? fetchTextUndici;
  const httpTimeoutMs = opts.httpTimeoutMs ?? 5000;
  const parts = splitUrl(spec.url);
  const label = spec.label ?? (parts ? `${parts.host}:${parts.port}` : spec.url);
  const rep: EndpointReport = {
    label,
    url: parts?.origin ?? spec.url,
    ...(spec.model ? { model: spec.model } : {}),
    ready: false,
    stages: {},
    served: [],
    quirks: [],
    problems: [],
  };
  const problem = (p: Problem) => rep.problems.push(p);
  if (!parts) {
    problem({
      code: 'bad_url',
      severity: 'error',
      message: `bad URL "${spec.url}"`,
      hint: 'e.g. http://127.0.0.1:1900',
    });
    return rep;
  }

  // 1. does the port LISTEN?
  const tcp = await probeTcp(parts.host, parts.port, opts.connectTimeoutMs ?? 2000);
  if (!tcp.ok) {
    rep.stages.tcp = { status: 'fail', detail: tcp.kind, ms: tcp.ms };
    if (tcp.kind === 'refused')
      problem({
        code: 'not_listening',
        severity: 'error',
        message: `not listening yet: is the SSH forward up? (connection refused on ${parts.host}:${parts.port})`,
        hint: 'an SSH tunnel takes ~22 s to come up; `servelab check --wait 60s` polls until it does',
      });
    else
      problem({
        code: 'unreachable',
        severity: 'error',
        message: `unreachable: ${tcp.kind === 'timeout' ? 'no answer to connect' : tcp.code} (${parts.host}:${parts.port})`,
        hint: 'wrong host or port, a firewall, or the node is down',
      });
    return rep;
  }
  rep.stages.tcp = { status: 'ok', detail: 'listening', ms: tcp.ms };

  // 2. /health
  const t0 = performance.now();
  const auth = opts.apiKey ? { headers: { authorization: `Bearer ${opts.apiKey}` } } : {};
  const health = await fetchText(`${parts.origin}/health`, { timeoutMs: httpTimeoutMs, ...auth });
  const healthMs = performance.now() - t0;
  if (health.ok) rep.stages.health = { status: 'ok', detail: String(health.status), ms: healthMs };
  else {
    rep.stages.health = {
      status: 'fail',
      detail: health.status ? `HTTP ${health.status}` : health.kind,
      ms: healthMs,
    };
    problem({
      code: 'health_failed',
      severity: 'error',
      message: `/health: ${health.message}`,
      hint:
        health.status === 503
          ? 'the server is up but not ready (still loading the model?)'
          : health.kind === 'timeout'
            ? 'the port accepts connections but nothing answers HTTP: a tunnel whose far end is down?'
            : 'is this an OpenAI-compatible server (vLLM / SGLang)?',
    });
  }

  // 3. /v1/models
  const models = await fetchText(`${parts.origin}/v1/models`, { timeoutMs: httpTimeoutMs, ...auth });
  if (models.ok) {
    let all: string[];
    try {
      const body = JSON.parse(models.text) as { data?: { id?: unknown }[] };
      all = Array.isArray(body.data) ? body.data.map((d) => String(d?.id)) : [];
    } catch {
      all = [];
    }
    // what is kept and printed of the names is server text: capped, as the client caps messages
    rep.served = all.slice(0, MAX_SERVED_LISTED).map((n) => capServerText(n).text);
    if (all.length > MAX_SERVED_LISTED) rep.servedCount = all.length;
    if (spec.model && !all.includes(spec.model)) {
      rep.stages.models = { status: 'fail', detail: `serves ${servedList(rep, false)}` };
      problem({
        code: 'model_not_served',
        severity: 'error',
        message: `expected model "${spec.model}" is not served; it serves: ${servedList(rep)}`,
        hint: "fix the model name in the config, or the server's --served-model-name; is this the right port?",
      });
    } else if (rep.served.length === 0) {
      rep.stages.models = { status: 'fail', detail: 'no models' };
      problem({ code: 'models_failed', severity: 'error', message: '/v1/models lists no model' });
    } else {
      rep.stages.models = { status: 'ok', detail: servedList(rep, false) };
      rep.model ??= rep.served[0];
    }
  } else {
    rep.stages.models = { status: 'fail', detail: models.status ? `HTTP ${models.status}` : models.kind };
    problem({
      code: 'models_failed',
      severity: 'error',
      message: `/v1/models: ${models.message}`,
      ...(models.status === 401 || models.status === 403
        ? { hint: 'the server wants an API key: --api-key-env NAME or --api-key-file FILE' }
        : {}),
    });
  }

  // 4. /version (vLLM); its absence is not a failure
  const version = await fetchText(`${parts.origin}/version`, { timeoutMs: httpTimeoutMs, ...auth });
  if (version.ok) {
    try {
      const v = (JSON.parse(version.text) as { version?: unknown }).version;
      if (typeof v === 'string') rep.version = capServerText(v, 100).text;
    } catch {
      // not JSON: unknown
    }
  }
  rep.stages.version = rep.version
    ? { status: 'ok', detail: rep.version }
    : { status: 'skip', detail: 'unknown' };
  if (rep.version)
    for (const p of pitfallsFor({
      server: 'vllm',
      version: rep.version,
      ...(rep.model ? { model: rep.model } : {}),
      tools: Boolean(spec.tools),
    }).filter((p) => p.severity !== 'info'))
      problem({ code: 'pitfall', severity: p.severity, message: `${p.message} [${p.id}]`, hint: p.hint });

  // a predicted pitfall does not stop the smoke calls: they confirm it
  const httpOk = rep.stages.health?.status === 'ok' && rep.stages.models?.status === 'ok';
  // 5. smoke calls
  if (opts.smoke !== false && httpOk && rep.model) {
    const endpoint = { baseUrl: `${parts.origin}/v1`, model: rep.model, label };
    const timeouts = { firstByteMs: opts.chatTimeoutMs ?? 60_000, totalMs: opts.chatTimeoutMs ?? 60_000 };
    const c0 = performance.now();
    const chat = await transport.call({
      endpoint,
      api: 'chat',
      messages: [{ role: 'user', content: smokePrompt(rep.model) }],
      stream: true,
      maxTokens: opts.smokeMaxTokens ?? 32,
      temperature: 0,
      timeouts,
      ...(spec.headers ? { extraHeaders: spec.headers } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const chatMs = performance.now() - c0;
    if (chat.status === 'ok') {
      rep.stages.chat = {
        status: chat.quirks.length > 0 ? 'warn' : 'ok',
        detail: `${chat.finishReason ?? '?'}${chat.quirks.length ? `; ${chat.quirks.join(', ')}` : ''}`,
        ms: chatMs,
      };
      for (const q of chat.quirks) addQuirk(rep, q, opts.smokeMaxTokens ?? 32);
    } else {
      rep.stages.chat = { status: 'fail', detail: chat.error?.kind ?? chat.status, ms: chatMs };
      const pit = pitfallForError(chat.error?.message ?? '');
      problem({
        code: pit ? 'pitfall' : 'chat_failed',
        severity: 'error',
        message: `chat completion failed: ${errText(chat)}`,
        ...(pit
          ? { hint: pit.hint }
          : chat.error?.kind === 'timeout_first_byte'
            ? { hint: 'the server accepts but does not answer: overloaded or hung?' }
            : {}),
      });
    }
    if (spec.tools && chat.status === 'ok') await toolCheck(rep, endpoint, spec, opts, transport);
  } else if (opts.smoke !== false) {
    rep.stages.chat = { status: 'skip', detail: 'after earlier failures' };
  }
  rep.ready = rep.problems.every((p) => p.severity !== 'error');
  return rep;
}

function addQuirk(rep: EndpointReport, q: Quirk, smokeMaxTokens?: number): void {
  if (rep.quirks.includes(q)) return;
  rep.quirks.push(q);
  const t = QUIRK_TEXT[q];
  if (!t) return;
  // the check's own short request is what was cut: say so, so nobody reads it as the workload's
  const message =
    q === 'length_cut_inside_think' && smokeMaxTokens !== undefined
      ? `${t.message} (this check's request had max_tokens ${smokeMaxTokens}; longer calls may get past the thinking)`
      : t.message;
  rep.problems.push({
    code: 'quirk',
    severity: q === 'length_cut_inside_think' ? 'warn' : 'info',
    message,
    hint: t.hint,
  });
}

async function toolCheck(
  rep: EndpointReport,
  endpoint: { baseUrl: string; model: string; label: string },
  spec: EndpointSpec,
  opts: CheckOptions,
  transport: Transport,
): Promise<void> {
  const parser = toolParserFor(endpoint.model);
  const flags = `--enable-auto-tool-choice --tool-call-parser ${parser ?? '<parser for this model>'}`;
  const t0 = performance.now();
  const r = await transport.call({
    endpoint,
    api: 'chat',
    messages: [
      { role: 'user', content: 'What is the weather in Paris right now? Use the get_weather tool.' },
    ],
    tools: [WEATHER_TOOL],
    stream: true,
    maxTokens: 512,
    temperature: 0,
    timeouts: { firstByteMs: opts.chatTimeoutMs ?? 60_000, totalMs: opts.chatTimeoutMs ?? 60_000 },
    ...(spec.headers ? { extraHeaders: spec.headers } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const ms = performance.now() - t0;
  if (r.status !== 'ok') {
    rep.stages.tools = { status: 'fail', detail: r.error?.kind ?? r.status, ms };
    const pit = pitfallForError(r.error?.message ?? '');
    if (pit) {
      const predicted = rep.problems.find((p) => p.code === 'pitfall' && p.message.includes(`[${pit.id}]`));
      if (predicted) predicted.message = `confirmed by a tool-call completion: ${predicted.message}`;
      else
        rep.problems.push({
          code: 'pitfall',
          severity: 'error',
          message: `tool call failed: ${pit.message} [${pit.id}]`,
          hint: pit.hint,
        });
      return;
    }
    const noAuto = /auto.?tool.?choice|tool-call-parser|tool_choice/i.test(r.error?.message ?? '');
    rep.problems.push({
      code: 'tool_call_failed',
      severity: 'error',
      message: `tool-call completion failed: ${errText(r)}`,
      ...(noAuto ? { hint: `start the server with ${flags}` } : {}),
    });
    return;
  }
  for (const q of r.quirks) if (q !== 'tool_call_as_text') addQuirk(rep, q, 512);
  if (r.toolCalls.length > 0) {
    const names = r.toolCalls.map((c) => c.function.name).join(', ');
    rep.stages.tools = { status: 'ok', detail: `called ${names}`, ms };
    return;
  }
  if (r.quirks.includes('tool_call_as_text')) {
    rep.stages.tools = { status: 'fail', detail: 'tool call left as text', ms };
    rep.problems.push({
      code: 'tool_call_as_text',
      severity: 'error',
      message:
        'the tool call came back as text in content, not as tool_calls: wrong or missing tool-call parser',
      hint: `start the server with ${flags}`,
    });
    return;
  }
  rep.stages.tools = { status: 'warn', detail: `no tool call (finish ${r.finishReason ?? '?'})`, ms };
  rep.problems.push({
    code: 'no_tool_call',
    severity: 'warn',
    message: `asked to call a tool, the model answered without one (finish_reason ${r.finishReason ?? '?'})`,
    hint: `check the chat template and ${flags}`,
  });
}

/**
 * Checks every endpoint (in parallel), and with `waitMs` polls the ones not ready with a growing
 * back-off until all are ready or the time is up. Never throws for endpoint problems.
 */
export async function checkEndpoints(opts: CheckOptions): Promise<CheckReport> {
  const t0 = performance.now();
  const ownTransport = opts.transport
    ? undefined
    : createHttpTransport(opts.apiKey ? { apiKey: opts.apiKey } : {});
  const transport = opts.transport ?? ownTransport!;
  try {
    const gpuP: Promise<CheckReport['gpu']> =
      opts.gpu === false
        ? Promise.resolve({ available: false, reason: 'not checked' })
        : queryGpus(opts.execFile);
    const reports: (EndpointReport | undefined)[] = opts.endpoints.map(() => undefined);
    const deadline = t0 + (opts.waitMs ?? 0);
    let attempts = 0;
    let delayMs = 500;
    for (;;) {
      attempts++;
      await Promise.all(
        opts.endpoints.map(async (spec, i) => {
          if (reports[i]?.ready) return;
          reports[i] = await checkOne(spec, opts, transport);
        }),
      );
      const notReady = reports.filter((r) => !r?.ready);
      if (notReady.length === 0 || opts.signal?.aborted) break;
      const left = deadline - performance.now();
      if (left <= 0) break;
      opts.onProgress?.(
        `attempt ${attempts}: ${reports.length - notReady.length}/${reports.length} ready; waiting on ${notReady
          .map((r) => `${r!.label} (${r!.problems.find((p) => p.severity === 'error')?.code ?? '?'})`)
          .join(', ')}; next try in ${(Math.min(delayMs, left) / 1000).toFixed(1)} s`,
      );
      await sleep(Math.min(delayMs, left), opts.signal);
      delayMs = Math.min(delayMs * 1.6, 5000);
    }
    const endpoints = reports as EndpointReport[];
    return {
      ready: endpoints.every((r) => r.ready),
      endpoints,
      gpu: await gpuP,
      attempts,
      elapsedMs: performance.now() - t0,
    };
  } finally {
    await ownTransport?.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimer(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

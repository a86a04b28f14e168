/**
 * The transport-independent request handler of the simulated vLLM, used by the HTTP front (real
 * time) and by in-process transports (virtual time). It validates a parsed OpenAI request body
 * like vLLM does, tokenizes it, asks the persona what to say, submits it to the engine and reports
 * what happens through a sink, each event with the engine's clock time.
 *
 *   const h = service.chat(body, headers, sink);   // or service.completion(...)
 *   sink.start -> sink.delta* (one per engine step with visible tokens) -> sink.finish per choice
 *   -> sink.done (usage) | sink.error (vLLM error body, nothing else follows)
 *   h.abort() when the client goes away; h.fault tells a transport to cut/garble the stream.
 *
 * A sink without `delta` gets the whole output in `finish`, and the engine may then fast-forward
 * uniform decode steps (virtual time); the ITL histogram is only fed by sinks with `delta`.
 */
import type {
  Clock,
  Engine,
  EngineFinishReason,
  EngineProgramFields,
  EngineRequestInfo,
} from './engine-api.js';
import { FAULT_HEADER, type Fault, FaultPicker, type FaultRate } from './faults.js';
import { type OutputPlan, type PersonaName, planFromDirective, planOutput, planTokens } from './persona.js';
import { type AssembledOutput, OutputCursor, type OutputDelta, outputDryRun } from './persona-output.js';
import { hashString, mixSeed, mulberry32 } from './persona-rng.js';
import type { PromptIds } from './prompt-parts.js';
import { type ApiError, apiError, contextLengthError, modelNotFound } from './service-errors.js';
import { SimMetrics } from './service-metrics.js';
import {
  type Body,
  extraFields,
  forcedTools,
  offeredTools,
  readDirective,
  readLengthKnobs,
  readMessages,
  readPriority,
  readProgramFields,
  readPrompts,
  thinkingEnabled,
  thinkingSoftOff,
} from './service-request.js';
import {
  encodeChat,
  encodeChatPrefixed,
  encodeText,
  type PrefixNode,
  prefixBlockHashes,
} from './tokenizer.js';

export type { AssembledOutput, OutputDelta, ToolCallDelta } from './persona-output.js';
export type { ApiError } from './service-errors.js';

export interface SimServiceOptions {
  engine: Engine;
  clock: Clock;
  /** served model name (defaults to engine.config.model) */
  modelName?: string;
  persona?: PersonaName;
  seed?: number;
  faultRates?: readonly FaultRate[];
  /** engine ms -> absolute ms (performance.timeOrigin + performance.now()); identity by default */
  toAbsoluteMs?: (engineMs: number) => number;
  /** vLLM --enable-prompt-tokens-details: usage.prompt_tokens_details.cached_tokens (off by default) */
  enablePromptTokensDetails?: boolean;
  /**
   * the callers are in process and re-send the same message objects from call to call (an
   * agent's conversation): each message's token ids, and its prefix's block hashes, are
   * remembered per object, so a call encodes and hashes only its new messages (the same ids and
   * hashes; src/memo.ts). Off (the HTTP front: every body is parsed afresh), each call encodes
   * its whole prompt.
   */
  sameMessageObjects?: boolean;
}

/**
 * The request header that asks for the simulator's own timing object (`servelab: {arrival_ms,
 * first_token_ms}`) in the usage chunk / body. vLLM sends no such object, so without the header
 * the simulator does not either.
 */
export const TIMING_HEADER = 'x-servelab-timing';

export interface ResponseMeta {
  /** chatcmpl-<hex> / cmpl-<hex> */
  id: string;
  kind: 'chat' | 'completion';
  created: number;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  choices: number;
  promptTokens: number;
  /** each choice's prompt token ids (vLLM 0.11 puts them in a completions stream's first chunk) */
  promptTokenIds: PromptIds[];
  /** the client asked for the servelab timing object (TIMING_HEADER) */
  timing: boolean;
}

export interface ChoiceFinish {
  /** stop | length | tool_calls | abort (or a directive's reason) */
  finishReason: string;
  /** vLLM's stop_reason: null for EOS and length */
  stopReason: null;
  /** visible tokens of the last step, to go in the same chunk as finish_reason */
  lastDelta?: OutputDelta;
  output: AssembledOutput;
  completionTokens: number;
}

/** vLLM's UsageInfo, keys in its field order; prompt_tokens_details only as vLLM sends it */
export interface Usage {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

/** The sim's own timing, absolute ms on performance.timeOrigin + performance.now(). */
export interface ServerTiming {
  arrival_ms: number;
  first_token_ms: number | null;
}

export interface ServiceSink {
  /** the request was accepted (a stream's headers go out now; vLLM's first chunk waits for the first token) */
  start(meta: ResponseMeta, nowMs: number): void;
  delta?(choice: number, d: OutputDelta, nowMs: number): void;
  finish(choice: number, f: ChoiceFinish, nowMs: number): void;
  done(usage: Usage, timing: ServerTiming, nowMs: number): void;
  error(err: ApiError, nowMs: number): void;
  /**
   * The `hang` fault: nothing more will come. A stream still shows that it started (the front
   * writes its role chunk, as a server stalled after the first iteration would), so a client
   * sees a stream that stops, not one that never begins.
   */
  stalled?(nowMs: number): void;
}

export interface RequestHandle {
  /** the client went away: abort the engine requests, no more sink calls */
  abort(): void;
  /** transport-level fault to act on (stream_cut / malformed_chunk / missing_done), if any */
  readonly fault: Fault | undefined;
}

export type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

interface SubRequest {
  promptIds: PromptIds;
  plan: OutputPlan;
  /** the prompt's prefix node (sameMessageObjects) */
  prefix?: PrefixNode;
}

/** what every engine request of one API request carries to the scheduling policy */
interface SchedFields {
  priority: number;
  /** the Continuum fork's fields (continuum policy only) */
  program?: EngineProgramFields;
  /** give the engine the raw output text (the continuum policy parses tool calls from it) */
  outputText: boolean;
}

export class SimService {
  readonly engine: Engine;
  readonly clock: Clock;
  readonly modelName: string;
  readonly persona: PersonaName;
  readonly metrics: SimMetrics;
  private readonly seed: number;
  private readonly faults: FaultPicker;
  private readonly toAbs: (ms: number) => number;
  private readonly idRng;
  readonly enablePromptTokensDetails: boolean;
  private readonly sameMessageObjects: boolean;
  /** the engine runs the Continuum fork's policy: its request fields are read, not extra */
  private readonly continuum: boolean;

  constructor(opts: SimServiceOptions) {
    this.engine = opts.engine;
    this.clock = opts.clock;
    this.modelName = opts.modelName ?? opts.engine.config.model;
    this.persona = opts.persona ?? 'plain';
    this.seed = opts.seed ?? 0;
    this.faults = new FaultPicker(opts.faultRates ?? [], this.seed);
    this.toAbs = opts.toAbsoluteMs ?? ((ms) => ms);
    this.metrics = new SimMetrics(opts.engine.config.maxModelLen);
    this.idRng = mulberry32(mixSeed(this.seed, 0x1d));
    this.enablePromptTokensDetails = opts.enablePromptTokensDetails ?? false;
    this.sameMessageObjects = opts.sameMessageObjects ?? false;
    this.continuum = opts.engine.config.schedulingPolicy === 'continuum';
    const prev = this.engine.onStep;
    this.engine.onStep = (info) => {
      this.metrics.iterationTokens.observe(info.numTokens);
      prev?.(info);
    };
  }

  get maxModelLen(): number {
    return this.engine.config.maxModelLen;
  }

  /** POST /v1/chat/completions */
  chat(body: Body, headers: Headers, sink: ServiceSink): RequestHandle {
    return this.handle('chat', body, headers, sink);
  }

  /** POST /v1/completions */
  completion(body: Body, headers: Headers, sink: ServiceSink): RequestHandle {
    return this.handle('completion', body, headers, sink);
  }

  private fail(sink: ServiceSink, err: ApiError): RequestHandle {
    sink.error(err, this.clock.nowMs());
    return { abort() {}, fault: undefined };
  }

  private hexId(): string {
    let s = '';
    for (let i = 0; i < 4; i++)
      s += Math.floor(this.idRng.next() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    return s;
  }

  private handle(
    kind: 'chat' | 'completion',
    body: Body,
    headers: Headers,
    sink: ServiceSink,
  ): RequestHandle {
    const arrivalMs = this.clock.nowMs();
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return this.fail(sink, apiError(400, 'The request body must be a JSON object.'));
    }
    for (const f of extraFields(body, this.continuum)) this.metrics.countExtraField(f);
    if (body.model !== undefined && body.model !== null && body.model !== this.modelName) {
      return this.fail(sink, modelNotFound(String(body.model)));
    }
    const fault = this.faults.pick(header(headers, FAULT_HEADER));
    if (fault && 'error' in fault) return this.fail(sink, apiError(400, `${FAULT_HEADER}: ${fault.error}`));
    if (fault) this.metrics.countFault(fault.kind);
    if (fault?.kind === 'http_error') {
      const msg =
        fault.status === 429 ? 'Too many requests (injected fault)' : `Injected fault: HTTP ${fault.status}`;
      return this.fail(sink, apiError(fault.status, msg));
    }
    const knobs = readLengthKnobs(body);
    if ('status' in knobs) return this.fail(sink, knobs);
    const directive = readDirective(body);
    if (directive && 'status' in directive) return this.fail(sink, directive);
    const priority = readPriority(body);
    if (typeof priority !== 'number') return this.fail(sink, priority);
    const sched: SchedFields = { priority, outputText: this.continuum };
    if (this.continuum) {
      const program = readProgramFields(body);
      if ('status' in program) return this.fail(sink, program);
      sched.program = program;
    }

    const subs: SubRequest[] = [];
    const programKey = [body.program_id, body.job_id].find(
      (v) => typeof v === 'string' || typeof v === 'number',
    );
    if (kind === 'chat') {
      const messages = readMessages(body);
      if ('status' in messages) return this.fail(sink, messages);
      const tools = offeredTools(body);
      const enc = this.sameMessageObjects
        ? encodeChatPrefixed(messages, tools)
        : { ids: encodeChat(messages, tools), prefix: undefined };
      const promptIds = enc.ids;
      const plan = directive
        ? planFromDirective(directive)
        : planOutput(this.persona, {
            messages,
            tools,
            enableThinking: thinkingEnabled(body, messages),
            thinkingSoftOff: thinkingSoftOff(body, messages),
            forceTools: forcedTools(body, tools),
            programKey: programKey === undefined ? undefined : String(programKey),
            seed: this.seed,
          });
      subs.push(enc.prefix ? { promptIds, plan, prefix: enc.prefix } : { promptIds, plan });
    } else {
      const prompts = readPrompts(body);
      if ('status' in prompts) return this.fail(sink, prompts);
      for (const p of prompts) {
        const promptIds = typeof p === 'string' ? encodeText(p) : p;
        const promptKey =
          typeof p === 'string' ? hashString(p) : mixSeed(p.length, p[0] ?? 0, p[p.length - 1] ?? 0);
        const plan = directive
          ? planFromDirective(directive)
          : planOutput(this.persona === 'orchestrator' ? 'plain' : this.persona, {
              enableThinking: false,
              promptKey,
              seed: this.seed,
            });
        subs.push({ promptIds, plan });
      }
    }

    const maxLen = this.maxModelLen;
    for (const s of subs) {
      const n = s.promptIds.length;
      if (fault?.kind === 'context_length')
        return this.fail(sink, contextLengthError(kind, maxLen, Math.max(n, maxLen)));
      if (n >= maxLen || (knobs.maxTokens !== undefined && n + knobs.maxTokens > maxLen)) {
        return this.fail(sink, contextLengthError(kind, maxLen, n, knobs.maxTokens));
      }
    }

    // vLLM's StreamOptions.include_usage defaults to true: `stream_options: {}` asks for usage
    const streamOpts = body.stream_options as { include_usage?: unknown } | null | undefined;
    const wantsUsage =
      streamOpts !== null &&
      typeof streamOpts === 'object' &&
      (streamOpts.include_usage === undefined || streamOpts.include_usage === true);
    const meta: ResponseMeta = {
      id: `${kind === 'chat' ? 'chatcmpl-' : 'cmpl-'}${this.hexId()}`,
      kind,
      created: Math.floor(Date.now() / 1000),
      model: this.modelName,
      stream: body.stream === true,
      includeUsage: body.stream === true ? wantsUsage : true,
      choices: subs.length,
      promptTokens: subs.reduce((a, s) => a + s.promptIds.length, 0),
      promptTokenIds: subs.map((s) => s.promptIds),
      timing: header(headers, TIMING_HEADER) === '1',
    };
    sink.start(meta, arrivalMs);

    const run = new RunningRequest(this, meta, sink, arrivalMs);
    const handle: RequestHandle = { abort: () => run.abort(), fault };
    if (fault?.kind === 'hang') {
      sink.stalled?.(arrivalMs);
      return handle;
    }
    const submitAll = () => {
      try {
        subs.forEach((s, i) => {
          run.submit(i, s, knobs, sched, mixSeed(this.seed, hashString(meta.id), i));
        });
      } catch (e) {
        // the engine refused a request we validated: a bug, answered like vLLM's 500
        run.abort();
        sink.error(apiError(500, `engine rejected the request: ${(e as Error).message}`), this.clock.nowMs());
      }
    };
    if (fault?.kind === 'slow_first_token' && fault.delayMs > 0) {
      run.cancelTimer = this.clock.schedule(arrivalMs + fault.delayMs, () => {
        run.cancelTimer = undefined;
        if (!run.aborted) submitAll();
      });
    } else submitAll();
    return handle;
  }

  /** record one finished engine request in the histograms (vLLM records aborted ones too) */
  recordFinished(info: EngineRequestInfo, maxTokensParam: number): void {
    const m = this.metrics;
    const sec = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? undefined : Math.max(0, (b - a) / 1000);
    const e2e = sec(info.arrivalMs, info.finishMs);
    if (e2e !== undefined) m.e2e.observe(e2e);
    const queue = sec(info.arrivalMs, info.firstScheduledMs);
    if (queue !== undefined) m.queue.observe(queue);
    const ttft = sec(info.arrivalMs, info.firstTokenMs);
    if (ttft !== undefined) m.ttft.observe(ttft);
    const prefill = sec(info.firstScheduledMs, info.firstTokenMs);
    if (prefill !== undefined) m.prefill.observe(prefill);
    const decode = sec(info.firstTokenMs, info.finishMs);
    if (decode !== undefined) {
      m.decode.observe(decode);
      if (info.outputTokens > 1) m.tpot.observe(decode / (info.outputTokens - 1));
    }
    const inference = sec(info.firstScheduledMs, info.finishMs);
    if (inference !== undefined) m.inference.observe(inference);
    m.promptTokens.observe(info.promptTokens);
    m.generationTokens.observe(info.outputTokens);
    m.maxTokensParam.observe(maxTokensParam);
  }

  absMs(engineMs: number): number {
    return this.toAbs(engineMs);
  }
}

/** One accepted request (one or more engine requests: a completions prompt list has several). */
class RunningRequest {
  aborted = false;
  cancelTimer: (() => void) | undefined;
  private readonly engineIds: (string | undefined)[];
  private remaining: number;
  private completionTokens = 0;
  private cachedTokens = 0;
  private firstTokenMs: number | undefined;

  constructor(
    private readonly svc: SimService,
    private readonly meta: ResponseMeta,
    private readonly sink: ServiceSink,
    private readonly arrivalMs: number,
  ) {
    this.engineIds = new Array(meta.choices).fill(undefined);
    this.remaining = meta.choices;
  }

  submit(
    choice: number,
    sub: SubRequest,
    knobs: { maxTokens?: number; minTokens: number; ignoreEos: boolean },
    sched: SchedFields,
    seed: number,
  ) {
    const svc = this.svc;
    const room = svc.maxModelLen - sub.promptIds.length;
    let maxTokens = Math.min(knobs.maxTokens ?? room, room);
    let target = planTokens(sub.plan);
    // a replayed length cut: the engine stops at exactly the recorded length with 'length'
    if (sub.plan.finishReason === 'length') maxTokens = Math.min(maxTokens, Math.max(target, 1));
    if (knobs.ignoreEos) target = maxTokens;
    target = Math.max(target, knobs.minTokens, 1);
    target = Math.min(target, maxTokens);
    const cursor = new OutputCursor(sub.plan, seed);
    const id = `${this.meta.id}-${choice}`;
    this.engineIds[choice] = id;
    // the last step's tokens are held until the end of the current tick so they can share the
    // finish chunk (as vLLM sends them); a later step's tokens (virtual time) flush them first
    let pending: OutputDelta | undefined;
    let pendingMs = 0;
    let flushQueued = false;
    let lastTokenMs: number | undefined;
    const sink = this.sink;
    const flush = () => {
      flushQueued = false;
      if (pending && !this.aborted) {
        const d = pending;
        pending = undefined;
        sink.delta?.(choice, d, pendingMs);
      }
    };
    const dry = outputDryRun(sub.plan, seed, target, sched.outputText);
    svc.engine.submit(
      {
        id,
        promptTokenIds: sub.promptIds,
        maxTokens,
        targetOutputTokens: target,
        outputTokenIds: dry.ids,
        ...(sub.prefix && svc.engine.config.enablePrefixCaching
          ? { promptBlockHashes: prefixBlockHashes(sub.prefix, sub.promptIds, svc.engine.config.blockSize) }
          : {}),
        ...(sched.priority !== 0 ? { priority: sched.priority } : {}),
        ...(sched.program ? { program: sched.program } : {}),
        ...(dry.text !== undefined ? { outputText: dry.text } : {}),
      },
      {
        onTokens:
          sink.delta === undefined
            ? undefined
            : (n, nowMs) => {
                if (lastTokenMs !== undefined)
                  svc.metrics.itl.observe(Math.max(0, nowMs - lastTokenMs) / 1000);
                lastTokenMs = nowMs;
                const d = cursor.take(n);
                if (!d) return;
                if (pending && pendingMs !== nowMs) flush();
                pending = pending ? mergeDelta(pending, d) : d;
                pendingMs = nowMs;
                // only the step that reaches the EOS point / max_tokens is held back for the
                // finish chunk; every other step goes out at once
                if (cursor.emitted < target) flush();
                else if (!flushQueued) {
                  flushQueued = true;
                  queueMicrotask(flush);
                }
              },
        onFinish: (reason: EngineFinishReason, info: EngineRequestInfo) => {
          svc.recordFinished(info, maxTokens);
          if (this.aborted) return;
          if (pending && pendingMs !== info.finishMs) flush();
          if (sink.delta === undefined) {
            const d = cursor.take(info.outputTokens);
            pending = d;
          } else if (cursor.emitted < info.outputTokens) {
            const d = cursor.take(info.outputTokens - cursor.emitted);
            if (d) pending = pending ? mergeDelta(pending, d) : d;
          }
          const lastDelta = pending;
          pending = undefined;
          this.completionTokens += info.outputTokens;
          this.cachedTokens += info.cachedTokens;
          if (
            info.firstTokenMs !== undefined &&
            (this.firstTokenMs === undefined || info.firstTokenMs < this.firstTokenMs)
          ) {
            this.firstTokenMs = info.firstTokenMs;
          }
          let finishReason: string = reason;
          if (sub.plan.finishReason) finishReason = sub.plan.finishReason;
          else if (reason === 'stop' && cursor.toolCallsComplete && this.meta.kind === 'chat')
            finishReason = 'tool_calls';
          const f: ChoiceFinish = {
            finishReason,
            stopReason: null,
            output: cursor.result(),
            completionTokens: info.outputTokens,
          };
          if (lastDelta) f.lastDelta = lastDelta;
          const now = svc.clock.nowMs();
          sink.finish(choice, f, now);
          this.remaining--;
          if (this.remaining === 0) this.complete(now);
        },
      },
    );
  }

  private complete(nowMs: number): void {
    const p = this.meta.promptTokens;
    const usage: Usage = {
      prompt_tokens: p,
      total_tokens: p + this.completionTokens,
      completion_tokens: this.completionTokens,
    };
    // vLLM: `if self.enable_prompt_tokens_details and num_cached_tokens` (0 cached: no details)
    if (this.svc.enablePromptTokensDetails && this.cachedTokens > 0)
      usage.prompt_tokens_details = { cached_tokens: this.cachedTokens };
    const timing: ServerTiming = {
      arrival_ms: this.svc.absMs(this.arrivalMs),
      first_token_ms: this.firstTokenMs === undefined ? null : this.svc.absMs(this.firstTokenMs),
    };
    this.sink.done(usage, timing, nowMs);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.cancelTimer?.();
    for (const id of this.engineIds) if (id !== undefined) this.svc.engine.abort(id);
  }
}

function mergeDelta(a: OutputDelta, b: OutputDelta): OutputDelta {
  const out: OutputDelta = {};
  if (a.content || b.content) out.content = (a.content ?? '') + (b.content ?? '');
  if (a.reasoning || b.reasoning) out.reasoning = (a.reasoning ?? '') + (b.reasoning ?? '');
  if (a.toolCalls || b.toolCalls) {
    const list = (a.toolCalls ?? []).map((t) => ({ ...t }));
    for (const t of b.toolCalls ?? []) {
      const prev = list.find((x) => x.index === t.index);
      if (!prev) list.push({ ...t });
      else {
        if (t.id) prev.id = t.id;
        if (t.name) prev.name = t.name;
        if (t.arguments !== undefined) prev.arguments = (prev.arguments ?? '') + t.arguments;
      }
    }
    out.toolCalls = list;
  }
  return out;
}

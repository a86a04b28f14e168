/**
 * One request's engine state. Token ids are the prompt followed by the generated tokens (the
 * caller's `outputTokenIds` where given, else syntheticOutputTokenId). Block hashes are
 * computed lazily and kept across preemptions (tokens only ever get appended).
 */
import { hashBlock, ROOT_HASH, requestKey, syntheticOutputTokenId } from './block-hash.js';
import type { EngineProgramFields, EngineRequestListener, EngineRequestSpec } from './engine-api.js';
import { hashPromptBlock, type PromptIds, PromptParts } from './prompt-parts.js';

export enum ReqState {
  Waiting = 0,
  Running = 1,
  Finished = 2,
}

let nextSeq = 0;

export class SimRequest {
  readonly id: string;
  /** creation order (the last tie-break of the priority order) */
  readonly seq = nextSeq++;
  /** vLLM's priority field (smaller first) */
  readonly priority: number;
  readonly program: EngineProgramFields | undefined;
  readonly outputText: string | undefined;
  /** continuum: last_func_call as the fork fills it in at arrival */
  lastFuncCall: string | null | undefined = undefined;
  /** continuum: the tool the finished call asked for (null: none) */
  funcCall: string | null = null;
  readonly key: number;
  readonly prompt: PromptIds;
  readonly promptLen: number;
  readonly outputIds: ArrayLike<number> | undefined;
  /** stop with 'length' after this many outputs (max_tokens and max_model_len folded in) */
  readonly maxOut: number;
  /** output count where the model emits EOS ('stop'); may exceed maxOut (then 'length' wins) */
  readonly target: number;
  readonly listener: EngineRequestListener;
  readonly arrivalMs: number;
  state = ReqState.Waiting;
  /** prompt + outputs so far */
  total: number;
  outputs = 0;
  computed = 0;
  /** tokens scheduled in the current step */
  stepTokens = 0;
  blocks: number[] = [];
  /** leading blocks already registered in the prefix cache (or skipped) */
  cachedBlocks = 0;
  hashes: number[] = [];
  cachedTokens = 0;
  preemptions = 0;
  firstScheduledMs: number | undefined = undefined;
  firstTokenMs: number | undefined = undefined;
  readonly streams: boolean;

  constructor(
    spec: EngineRequestSpec,
    listener: EngineRequestListener,
    arrivalMs: number,
    maxModelLen: number,
  ) {
    this.id = spec.id;
    this.key = requestKey(spec.id);
    this.prompt = spec.promptTokenIds;
    this.promptLen = spec.promptTokenIds.length;
    this.outputIds = spec.outputTokenIds;
    if (spec.promptBlockHashes) this.hashes = spec.promptBlockHashes;
    this.priority = spec.priority ?? 0;
    this.program = spec.program;
    this.outputText = spec.outputText;
    this.maxOut = Math.max(1, Math.min(spec.maxTokens, maxModelLen - this.promptLen));
    this.target = Math.max(1, spec.targetOutputTokens);
    this.listener = listener;
    this.arrivalMs = arrivalMs;
    this.total = this.promptLen;
    this.streams = listener.onTokens !== undefined;
  }

  tokenAt(i: number): number {
    if (i < this.promptLen) {
      const p = this.prompt;
      return p instanceof PromptParts ? p.at(i)! : p[i]!;
    }
    const j = i - this.promptLen;
    const o = this.outputIds;
    if (o !== undefined && j < o.length) return o[j]!;
    return syntheticOutputTokenId(this.key, j);
  }

  /** hash of full block idx (tokens idx*bs .. (idx+1)*bs - 1 must be known) */
  hashAt(idx: number, bs: number): number {
    const hs = this.hashes;
    while (hs.length <= idx) {
      const b = hs.length;
      const parent = b === 0 ? ROOT_HASH : hs[b - 1]!;
      const start = b * bs;
      if (start + bs <= this.promptLen) {
        hs.push(hashPromptBlock(parent, this.prompt, start, bs));
      } else {
        const tmp = scratch(bs);
        for (let i = 0; i < bs; i++) tmp[i] = this.tokenAt(start + i);
        hs.push(hashBlock(parent, tmp, 0, bs));
      }
    }
    return hs[idx]!;
  }
}

let scratchBuf = new Float64Array(16);
function scratch(n: number): Float64Array {
  if (scratchBuf.length < n) scratchBuf = new Float64Array(n);
  return scratchBuf;
}

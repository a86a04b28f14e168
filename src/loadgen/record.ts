import type { WorkloadItem } from '../workload/item.js';
import type { RequestRecord } from './records.js';
import type { CallResult } from './transport.js';

export interface RecordMeta {
  i: number;
  warmup: boolean;
  stage: number;
  endpoint: string;
  scheduledMs: number;
  item: Pick<WorkloadItem, 'promptTokens' | 'outputTokens'>;
  streamed: boolean;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * One immutable RequestRecord from a call's result. Token counts come from the server's usage
 * when it sent one; else output is counted as content chunks (one token per chunk without
 * speculative decoding) and the prompt is the workload's own length.
 */
export function toRecord(res: CallResult, m: RecordMeta): RequestRecord {
  let outputTokens = 0;
  let promptTokens = m.item.promptTokens;
  let tokenSource: RequestRecord['tokenSource'] = 'requested';
  if (res.usage) {
    promptTokens = res.usage.promptTokens;
    outputTokens = res.usage.completionTokens;
    tokenSource = 'usage';
  } else if (m.streamed) {
    outputTokens = res.chunkMs.length;
    tokenSource = 'counted';
  } else if (res.status === 'ok') {
    outputTokens = m.item.outputTokens;
  }
  const sent = res.sentMs;
  const rec: RequestRecord = {
    v: 1,
    i: m.i,
    warmup: m.warmup,
    stage: m.stage,
    endpoint: m.endpoint,
    scheduledMs: r3(m.scheduledMs),
    sentMs: r3(sent),
    endMs: r3(res.endMs),
    status: res.status,
    promptTokens,
    outputTokens,
    tokenSource,
    chunkOffsetsMs: res.chunkMs.map((t) => r3(t - sent)),
  };
  if (res.firstByteMs !== undefined) rec.firstByteMs = r3(res.firstByteMs);
  if (res.firstChunkMs !== undefined) rec.firstChunkMs = r3(res.firstChunkMs);
  if (res.firstTokenMs !== undefined) rec.firstTokenMs = r3(res.firstTokenMs);
  if (res.lastTokenMs !== undefined) rec.lastTokenMs = r3(res.lastTokenMs);
  if (res.error) {
    rec.errorKind = res.error.kind;
    rec.errorMessage = res.error.message;
    if (res.error.messageChars !== undefined) rec.errorMessageChars = res.error.messageChars;
    if (res.error.httpStatus !== undefined) rec.httpStatus = res.error.httpStatus;
  }
  if (res.usage?.cachedTokens !== undefined) rec.cachedTokens = res.usage.cachedTokens;
  if (res.finishReason !== undefined) rec.finishReason = res.finishReason;
  if (res.quirks.length > 0) rec.quirks = res.quirks;
  if (res.serverFirstTokenMs !== undefined) rec.serverFirstTokenMs = r3(res.serverFirstTokenMs);
  return rec;
}

import type { WorkloadItem } from '../workload/item.js';
import type { CallRequest, Endpoint } from './transport.js';

/** Everything about a request that does not come from the workload item. */
export interface RequestTemplate {
  endpoint: Endpoint;
  api: 'chat' | 'completions';
  stream: boolean;
  /** send min_tokens = max_tokens so the server generates exactly the asked length (vLLM extension) */
  minTokens: boolean;
  /** send ignore_eos (vLLM extension) */
  ignoreEos: boolean;
  temperature?: number;
  extraBody?: Record<string, unknown>;
  extraHeaders?: Record<string, string>;
  apiKey?: string;
  timeouts?: CallRequest['timeouts'];
}

/** The request for a workload item; chat uses the item's messages or one user message. */
export function requestFor(item: WorkloadItem, t: RequestTemplate): CallRequest {
  const req: CallRequest = {
    endpoint: t.endpoint,
    api: t.api,
    stream: t.stream,
    maxTokens: item.outputTokens,
  };
  if (t.api === 'chat') req.messages = item.messages ?? [{ role: 'user', content: item.prompt }];
  else req.prompt = item.prompt;
  if (t.minTokens) req.minTokens = item.outputTokens;
  if (t.ignoreEos) req.ignoreEos = true;
  if (t.temperature !== undefined) req.temperature = t.temperature;
  if (t.extraBody) req.extraBody = t.extraBody;
  if (t.extraHeaders) req.extraHeaders = t.extraHeaders;
  if (t.apiKey) req.apiKey = t.apiKey;
  if (t.timeouts) req.timeouts = t.timeouts;
  return req;
}

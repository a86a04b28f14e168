import type { CallRequest } from '../loadgen/transport.js';

/** The URL path of an API relative to the base URL (which ends in /v1). */
export function apiPath(api: CallRequest['api']): string {
  return api === 'chat' ? '/chat/completions' : '/completions';
}

/** The OpenAI-compatible JSON body for a call; extraBody is merged last so callers can override. */
export function buildBody(req: CallRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { model: req.endpoint.model };
  if (req.api === 'chat') body.messages = req.messages ?? [];
  else body.prompt = req.prompt ?? '';
  body.stream = req.stream;
  if (req.stream) body.stream_options = { include_usage: true };
  if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
  if (req.minTokens !== undefined) body.min_tokens = req.minTokens;
  if (req.ignoreEos !== undefined) body.ignore_eos = req.ignoreEos;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.tools && req.tools.length > 0) body.tools = req.tools;
  if (req.extraBody) Object.assign(body, req.extraBody);
  return body;
}

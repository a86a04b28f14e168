/** vLLM's error bodies: `{"error": {"message", "type", "param", "code"}}` with the HTTP status as code. */
export interface ApiError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: number } };
}

const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  413: 'RequestEntityTooLargeError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

export function apiError(status: number, message: string, param: string | null = null): ApiError {
  return {
    status,
    body: { error: { message, type: TYPES[status] ?? 'BadRequestError', param, code: status } },
  };
}

export function modelNotFound(model: string): ApiError {
  return apiError(404, `The model \`${model}\` does not exist.`, 'model');
}

/**
 * vLLM 0.11's wording (serving_engine._validate_input) for a prompt that does not fit. The chat
 * route wraps the ValueError as `f"{e} {e.__cause__}"`, so its message ends in " None"; the
 * completions route sends `str(e)`.
 */
export function contextLengthError(
  kind: 'chat' | 'completion',
  maxModelLen: number,
  promptTokens: number,
  maxTokens?: number,
): ApiError {
  const msg =
    maxTokens === undefined || promptTokens >= maxModelLen
      ? `This model's maximum context length is ${maxModelLen} tokens. However, your request has ` +
        `${promptTokens} input tokens. Please reduce the length of the input messages.`
      : `'max_tokens' or 'max_completion_tokens' is too large: ${maxTokens}. This model's maximum ` +
        `context length is ${maxModelLen} tokens and your request has ${promptTokens} input tokens ` +
        `(${maxTokens} > ${maxModelLen} - ${promptTokens}).`;
  return apiError(400, kind === 'chat' ? `${msg} None` : msg);
}

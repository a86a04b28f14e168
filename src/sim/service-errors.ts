/** vLLM's error bodies: `{"error": {"message", "type", "param", "code"}}` with the HTTP status as code. */
export interface ApiError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: number } };
}

const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
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

/** vLLM's wording (serving_engine._validate_input) for a prompt that does not fit. */
export function contextLengthError(maxModelLen: number, promptTokens: number, maxTokens?: number): ApiError {
  if (maxTokens === undefined || promptTokens >= maxModelLen) {
    return apiError(
      400,
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ` +
        `${promptTokens} tokens in the messages, Please reduce the length of the messages.`,
    );
  }
  return apiError(
    400,
    `This model's maximum context length is ${maxModelLen} tokens. However, you requested ` +
      `${promptTokens + maxTokens} tokens (${promptTokens} in the messages, ${maxTokens} in the completion). ` +
      'Please reduce the length of the messages or completion.',
  );
}

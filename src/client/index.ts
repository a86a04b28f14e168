export { type ApiKeySource, resolveApiKey } from './api-key.js';
export { httpError, networkError, serverMessage } from './errors.js';
export { createHttpTransport, type HttpTransport, type HttpTransportOptions } from './http-transport.js';
export { type NormalisedAnswer, normaliseAnswer, type RawAnswer } from './normalize.js';
export { apiPath, buildBody } from './request-body.js';

/** Every metric's definition, written into summary.json so no reader has to guess. */
export const DEFINITIONS: Record<string, string> = {
  ttftMs:
    'time to first token: request sent -> first SSE chunk with non-empty content, reasoning or tool-call delta (ok requests only)',
  ttftFirstChunkMs:
    "vLLM bench's TTFT: request sent -> first SSE chunk of any kind (a role-only chunk counts); under-reports when a server sends one early",
  tpotMs:
    'time per output token, per request: (last content chunk - first token) / (output_tokens - 1); requests with > 1 output token',
  itlMs:
    'inter-token latency: every gap between consecutive content chunks, pooled over ok requests (a chunk may carry several tokens)',
  e2eMs:
    'end-to-end latency: request sent -> last content chunk (trailing usage chunk excluded); non-streamed: -> body received',
  e2eWithQueueMs:
    'end-to-end latency including client queue time: when the arrival process wanted it sent (scheduled; or sent, if sent early) -> last content chunk',
  scheduleLagMs:
    'sent - scheduled: how late the client sent each request (timer slip, busy event loop, or waiting for a concurrency slot); negative = sent early (up to 1 ms, rather than a timer tick late)',
  duration:
    'measurement window in s: first measured request scheduled -> last measured request finished (warm-up excluded)',
  request_throughput: 'ok requests / duration',
  output_throughput: 'output tokens of ok requests / duration (server usage when sent, else counted chunks)',
  total_token_throughput: '(input + output tokens of ok requests) / duration',
  peakOutputTokensPerS:
    "peak over full seconds: the most output tokens received (ok requests; a request's tokens spread over its chunks) in any 1-s interval wholly inside the window, sliding, not aligned to the window start; null when the window is shorter than 1 s; below the mean only when tokens bunch at both ends of a run shorter than 2 s",
  request_goodput: 'ok requests meeting every given SLO (ttft, tpot, e2el in ms) / duration',
  percentiles:
    'linear interpolation between closest ranks (numpy default, as vLLM); std is the population std',
  counts:
    'ok = finished with [DONE]; error = no usable output (refused, HTTP error, ...); incomplete = stream started then cut',
  littleLaw:
    'predicted in-flight = finished requests / duration x mean (end - sent); compared with the in-flight the client measured (time-weighted) and, for a closed loop, the target concurrency; a large gap means the client limited the load',
  tokens:
    'tokenSource per request: usage = server usage block, counted = content chunks, requested = workload length',
};

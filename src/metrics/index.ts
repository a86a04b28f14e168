export {
  type FetchMetricsOptions,
  type FetchText,
  type FetchTextResult,
  fetchMetrics,
  fetchTextUndici,
} from './fetch.js';
export {
  formatParseFailure,
  type MetricFamily,
  type MetricType,
  type ParsedPage,
  type ParseFailure,
  type ParseResult,
  parsePrometheusText,
  type Sample,
} from './parse.js';
export {
  DCGM_METRICS,
  type PrometheusReadOptions,
  type PrometheusReadResult,
  queryRange,
  readFromPrometheus,
  writeTimeseriesCsv,
} from './prometheus-source.js';
export {
  aliasesOf,
  compareVersions,
  detectKind,
  KV_USAGE_NAMES,
  REGISTRY,
  type ServerKind,
} from './registry.js';
export {
  DEFAULT_SAMPLER_METRICS,
  realClock,
  type SamplerClock,
  type SamplerHandle,
  type SamplerOptions,
  type SamplerStats,
  type SamplerTarget,
  startSampler,
  valueOnPage,
} from './sampler.js';
export {
  type CanonicalSnapshot,
  type CounterDelta,
  canonicalize,
  diffSnapshots,
  type EngineMetrics,
  type HistogramData,
  type SnapshotDiff,
  serverOrigin,
} from './snapshot.js';
export { type MetricSample, sampleToCsvLine, TIMESERIES_HEADER } from './timeseries.js';

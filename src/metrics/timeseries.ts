/**
 * One sample of a server metric, as written to kv_timeseries.csv in our users' exact format:
 * `ts_iso,ts_unix,port,metric,value`. `value` is as the server reports it (KV usage is a
 * 0-1 fraction). `ts_unix` is seconds with millisecond precision.
 *
 * A port with several engines (vLLM `--data-parallel-size N` behind one port) gets one row per
 * engine, its metric written with the engine label (`vllm:kv_cache_usage_perc{engine="1"}`), and
 * one row under the bare name holding the port's combined value (KV usage: used / total blocks;
 * others: the sum), so readers that filter on the bare name keep working.
 */
export interface MetricSample {
  tsUnixS: number;
  port: number;
  metric: string;
  value: number;
}

export const TIMESERIES_HEADER = 'ts_iso,ts_unix,port,metric,value';

export function sampleToCsvLine(s: MetricSample): string {
  return `${new Date(s.tsUnixS * 1000).toISOString()},${s.tsUnixS.toFixed(3)},${s.port},${s.metric},${s.value}`;
}

/** The metric column of one engine's row: `vllm:kv_cache_usage_perc{engine="1"}`. */
export function engineMetricName(name: string, label: string, engine: string): string {
  return `${name}{${label}="${engine.replace(/[\\",\n]/g, '_')}"}`;
}

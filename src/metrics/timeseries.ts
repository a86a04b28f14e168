/**
 * One sample of a server metric, as written to kv_timeseries.csv in our users' exact format:
 * `ts_iso,ts_unix,port,metric,value`. `value` is as the server reports it (KV usage is a
 * 0-1 fraction). `ts_unix` is seconds with millisecond precision.
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

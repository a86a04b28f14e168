import { describe, expect, it } from 'vitest';
import type { RequestRecord } from './records.js';
import { summarize } from './summary.js';

const base = { v: 1 as const, warmup: false, stage: 0, endpoint: 'e', tokenSource: 'usage' as const };
const records: RequestRecord[] = [
  {
    ...base,
    i: 0,
    scheduledMs: 990,
    sentMs: 1000,
    firstChunkMs: 1010,
    firstTokenMs: 1020,
    lastTokenMs: 1050,
    endMs: 1052,
    status: 'ok',
    promptTokens: 10,
    outputTokens: 3,
    chunkOffsetsMs: [20, 30, 50],
  },
  {
    ...base,
    i: 1,
    scheduledMs: 1100,
    sentMs: 1100,
    firstChunkMs: 1105,
    firstTokenMs: 1105,
    lastTokenMs: 1115,
    endMs: 1116,
    status: 'ok',
    promptTokens: 20,
    outputTokens: 2,
    chunkOffsetsMs: [5, 15],
  },
  {
    ...base,
    i: 2,
    scheduledMs: 1200,
    sentMs: 1200,
    endMs: 1201,
    status: 'error',
    errorKind: 'refused',
    promptTokens: 5,
    outputTokens: 0,
    chunkOffsetsMs: [],
  },
  {
    ...base,
    i: 3,
    scheduledMs: 1300,
    sentMs: 1300,
    firstTokenMs: 1310,
    endMs: 1400,
    status: 'incomplete',
    errorKind: 'reset',
    promptTokens: 5,
    outputTokens: 1,
    chunkOffsetsMs: [10],
  },
  {
    ...base,
    i: 4,
    warmup: true,
    scheduledMs: 0,
    sentMs: 0,
    firstTokenMs: 1,
    lastTokenMs: 900,
    endMs: 901,
    status: 'ok',
    promptTokens: 9,
    outputTokens: 9,
    chunkOffsetsMs: [1, 900],
  },
];

describe('summarize: a request sent early', () => {
  it('never has less latency including the client queue than without it', () => {
    const early: RequestRecord = {
      ...records[0]!,
      scheduledMs: 1000,
      sentMs: 999.2,
      firstTokenMs: 1010,
      lastTokenMs: 1030,
      endMs: 1031,
      status: 'ok',
      chunkOffsetsMs: [10.8, 30.8],
    };
    const s = summarize([early], { percentiles: [50] });
    expect(s.latency.e2eMs.mean).toBeCloseTo(30.8, 9);
    expect(s.latency.e2eWithQueueMs.mean).toBeCloseTo(30.8, 9);
    expect(s.latency.scheduleLagMs.mean).toBeCloseTo(-0.8, 9);
  });
});

describe('summarize: hand-computed', () => {
  const s = summarize(records, {
    goodput: { ttftMs: 10 },
    percentiles: [50, 99],
    targetConcurrency: 1,
    arrivals: 'closed(c=1)',
  });
  it('counts add up; warm-up excluded; errors apart', () => {
    expect(s.counts).toEqual({
      total: 5,
      warmup: 1,
      measured: 4,
      ok: 2,
      error: 1,
      incomplete: 1,
      errorByKind: { refused: 1 },
      incompleteByKind: { reset: 1 },
    });
    expect(s.durationS).toBeCloseTo(0.41, 9);
    expect(s.completed).toBe(2);
    expect(s.failed).toBe(2);
  });
  it('latencies of ok requests only', () => {
    expect(s.latency.ttftMs.mean).toBe(12.5);
    expect(s.latency.ttftFirstChunkMs.percentiles[50]).toBe(7.5);
    expect(s.latency.tpotMs.mean).toBe(12.5);
    expect(s.latency.itlMs.count).toBe(3);
    expect(s.latency.itlMs.mean).toBeCloseTo(40 / 3, 9);
    expect(s.latency.itlMs.percentiles[50]).toBe(10);
    expect(s.latency.e2eMs.mean).toBe(32.5);
    expect(s.latency.e2eWithQueueMs.mean).toBe(37.5);
    expect(s.latency.scheduleLagMs.mean).toBe(2.5);
    expect(s.mean_ttft_ms).toBe(12.5);
    expect(s.median_ttft_ms).toBe(12.5);
    expect(s.p99_ttft_ms).toBeCloseTo(5 + 15 * 0.99, 9);
    expect(s.mean_e2el_ms).toBe(32.5);
    expect(s.std_tpot_ms).toBe(2.5);
  });
  it('throughputs, peak, goodput, Little', () => {
    expect(s.request_throughput).toBeCloseTo(2 / 0.41, 9);
    expect(s.total_input_tokens).toBe(30);
    expect(s.total_output_tokens).toBe(5);
    expect(s.output_throughput).toBeCloseTo(5 / 0.41, 9);
    expect(s.total_token_throughput).toBeCloseTo(35 / 0.41, 9);
    // a 0.41 s window holds no full second
    expect(s.throughput.peakOutputTokensPerS).toBeNull();
    expect(s.max_output_tokens_per_s).toBeNull();
    expect(s.goodput?.good).toBe(1);
    expect(s.request_goodput).toBeCloseTo(1 / 0.41, 9);
    // (52 + 16 + 1 + 100) ms over 4 requests, 4 requests in 0.41 s
    expect(s.littleLaw.predictedInFlight).toBeCloseTo((4 / 0.41) * (169 / 4 / 1000), 9);
    expect(s.tokens.outputIncomplete).toBe(1);
    expect(Object.keys(s.definitions)).toEqual(
      expect.arrayContaining(['ttftMs', 'tpotMs', 'itlMs', 'e2eMs']),
    );
    expect(s.warnings.some((w) => w.includes('1 errored and 1 incomplete'))).toBe(true);
  });
  it('empty input gives zeros and nulls, not a crash', () => {
    const e = summarize([]);
    expect(e.completed).toBe(0);
    expect(e.mean_ttft_ms).toBeNull();
    expect(JSON.parse(JSON.stringify(e)).durationS).toBe(0);
  });
});

describe('peak output throughput over full seconds', () => {
  const req = (i: number, sentMs: number, offs: number[], tokens: number, endMs: number): RequestRecord => ({
    ...base,
    i,
    scheduledMs: sentMs,
    sentMs,
    firstTokenMs: sentMs + offs[0]!,
    lastTokenMs: sentMs + offs.at(-1)!,
    endMs,
    status: 'ok',
    promptTokens: 1,
    outputTokens: tokens,
    chunkOffsetsMs: offs,
  });

  it('a 1.65 s run: the busiest full second, not the aligned buckets (300 each, under the 363.6 mean)', () => {
    // 100 tokens per chunk at 0.1, 0.5, 0.9 s and at 1.1, 1.4, 1.6 s; the window ends at 1.65 s
    const s = summarize([req(0, 0, [100, 500, 900], 300, 950), req(1, 0, [1100, 1400, 1600], 300, 1650)]);
    expect(s.durationS).toBe(1.65);
    expect(s.throughput.outputTokensPerS).toBeCloseTo(600 / 1.65, 9);
    // [0.1, 1.1], [0.5, 1.5] and [0.65, 1.65] each hold 4 chunks
    expect(s.throughput.peakOutputTokensPerS).toBe(400);
    expect(s.max_output_tokens_per_s).toBe(400);
  });

  it('a window of exactly 1 s: the peak is the mean; under 1 s there is none', () => {
    const one = summarize([req(0, 0, [200, 600, 1000], 30, 1000)]);
    expect(one.durationS).toBe(1);
    expect(one.throughput.peakOutputTokensPerS).toBe(30);
    expect(one.throughput.peakOutputTokensPerS).toBe(one.throughput.outputTokensPerS);
    const short = summarize([req(0, 0, [200, 600, 900], 30, 999)]);
    expect(short.throughput.peakOutputTokensPerS).toBeNull();
  });

  it('never counts more than one second: tokens 1 s apart in, 1.001 s apart out', () => {
    const s = summarize([req(0, 0, [0, 1000, 2001, 3000], 4, 3000)]);
    expect(s.throughput.peakOutputTokensPerS).toBe(2);
  });
});

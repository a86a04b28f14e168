import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import type { RequestRecord } from './records.js';
import { evaluateSlo, parseSlo } from './slo.js';
import { summarize } from './summary.js';

const rec = (
  i: number,
  ttft: number,
  e2e: number,
  status: RequestRecord['status'] = 'ok',
): RequestRecord => ({
  v: 1,
  i,
  warmup: false,
  stage: 0,
  endpoint: 'x',
  scheduledMs: 0,
  sentMs: 0,
  firstChunkMs: ttft,
  firstTokenMs: ttft,
  lastTokenMs: e2e,
  endMs: e2e,
  status,
  promptTokens: 10,
  outputTokens: 11,
  tokenSource: 'usage',
  chunkOffsetsMs: [ttft, e2e],
});

describe('--slo', () => {
  it('parses thresholds as data', () => {
    expect(parseSlo('ttft:P99<2000ms,tpot:P99<50ms')).toEqual([
      { metric: 'ttft', stat: 99, op: '<', limitMs: 2000, text: 'ttft:P99<2000ms' },
      { metric: 'tpot', stat: 99, op: '<', limitMs: 50, text: 'tpot:P99<50ms' },
    ]);
    expect(parseSlo('e2e:mean<=1.5s')[0]).toMatchObject({
      metric: 'e2el',
      stat: 'mean',
      op: '<=',
      limitMs: 1500,
    });
    expect(parseSlo('itl:p99.9<40')[0]).toMatchObject({ metric: 'itl', stat: 99.9, limitMs: 40 });
  });

  it.each(['', 'ttft', 'ttft:P99>2', 'foo:P99<2', 'ttft:P0<2', 'ttft:P101<2', 'ttft:P99<0ms'])(
    'refuses %j naming the input',
    (s) => {
      let err: unknown;
      try {
        parseSlo(s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ServelabError);
      expect((err as ServelabError).message).toContain('--slo');
      expect((err as ServelabError).hint).toContain('ttft:P99<2000ms');
    },
  );

  it('checks a summary: percentiles of ok requests, and the share not ok', () => {
    // TTFT 10..100 ms (p50 = 55), TPOT (e2e - ttft) / 10 = 10 ms for each
    const rs = Array.from({ length: 10 }, (_, k) => rec(k, 10 * (k + 1), 10 * (k + 1) + 100));
    const s = summarize(rs, { percentiles: [50, 99] });
    const v = evaluateSlo(s, parseSlo('ttft:P50<60ms,tpot:P99<=10ms'));
    expect(v.ok).toBe(true);
    expect(v.checks.map((c) => c.valueMs)).toEqual([55, 10]);
    const v2 = evaluateSlo(s, parseSlo('ttft:P50<50ms'));
    expect(v2).toMatchObject({ ok: false, why: 'ttft:P50<50ms: was 55.0 ms' });
    const bad = summarize([...rs, rec(10, 1, 2, 'error')], { percentiles: [50] });
    expect(evaluateSlo(bad, parseSlo('ttft:P50<60ms'), 0.05).why).toContain('did not end ok');
  });
});

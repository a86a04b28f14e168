import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRequest, CallResult, Transport } from '../transport.js';

/**
 * One contract suite for every Transport (STYLE.md habit 6): the HTTP client against the
 * simulator's HTTP front, and the in-process simulator transport in virtual time, must end the
 * same requests and the same injected faults the same way. Test-only (imports vitest).
 */
export interface ContractSubject {
  transport: Transport;
  /** runs one call to completion (virtual time needs its clock driven) */
  run(p: Promise<CallResult>): Promise<CallResult>;
  /** a valid streamed chat request for 8 output tokens */
  request(): CallRequest;
  /** an endpoint where nothing answers */
  deadEndpoint: CallRequest['endpoint'];
  close(): Promise<void>;
}

const FAULTS: [string, CallResult['status'], string][] = [
  ['429', 'error', 'rate_limited'],
  ['500', 'error', 'server_error'],
  ['503', 'error', 'server_error'],
  ['context_length', 'error', 'context_length'],
  ['stream_cut;3', 'incomplete', 'reset'],
  ['malformed_chunk;2', 'incomplete', 'malformed'],
  ['missing_done', 'incomplete', 'no_done'],
  ['hang', 'incomplete', 'timeout_total'],
];

export function transportContract(name: string, setup: () => Promise<ContractSubject>): void {
  describe(`Transport contract: ${name}`, () => {
    let s: ContractSubject;
    beforeAll(async () => {
      s = await setup();
    });
    afterAll(async () => s.close());
    const call = (over: Partial<CallRequest> = {}) => s.run(s.transport.call({ ...s.request(), ...over }));

    it('a streamed call: ok, exact usage, ordered chunk times, first chunk <= first token, server time', async () => {
      const r = await call();
      expect(r.status).toBe('ok');
      expect(r.error).toBeUndefined();
      expect(r.usage?.completionTokens).toBe(8);
      expect(r.chunkMs.length).toBeGreaterThan(0);
      for (let k = 1; k < r.chunkMs.length; k++)
        expect(r.chunkMs[k]!).toBeGreaterThanOrEqual(r.chunkMs[k - 1]!);
      expect(r.firstChunkMs!).toBeLessThanOrEqual(r.firstTokenMs!);
      expect(r.firstTokenMs!).toBeGreaterThan(r.sentMs);
      expect(r.lastTokenMs!).toBeLessThanOrEqual(r.endMs);
      expect(r.finishReason).toBeDefined();
      expect(r.serverFirstTokenMs).toBeDefined();
      expect(r.text.length + r.reasoning.length).toBeGreaterThan(0);
    });

    it('a non-streamed call: ok with usage, no chunk times', async () => {
      const r = await call({ stream: false });
      expect(r).toMatchObject({ status: 'ok', usage: { completionTokens: 8 }, chunkMs: [] });
    });

    it.each(FAULTS)('fault %s -> %s (%s)', async (fault, status, kind) => {
      const r = await call({ extraHeaders: { 'x-servelab-fault': fault }, timeouts: { totalMs: 300 } });
      expect(r.status).toBe(status);
      expect(r.error?.kind).toBe(kind);
      expect(r.error?.retryable).toBe(kind !== 'context_length');
    });

    it('a stream that stops after its first chunk ends as timeout_idle at the idle limit, not before', async () => {
      const r = await call({
        extraHeaders: { 'x-servelab-fault': 'hang' },
        timeouts: { idleMs: 150, totalMs: 60_000 },
      });
      expect(r.status).toBe('incomplete');
      expect(r.error?.kind).toBe('timeout_idle');
      expect(r.error?.retryable).toBe(true);
      expect(r.error?.message).toMatch(/no byte for 150 ms \(idle timeout\)/);
      expect(r.firstChunkMs).toBeDefined();
      expect(r.endMs - r.firstChunkMs!).toBeGreaterThanOrEqual(148);
      expect(r.endMs - r.sentMs).toBeLessThan(30_000);
    });

    it('an idle limit shorter than the whole answer but longer than every gap: ok', async () => {
      // a slow first token is before the first chunk: the first-byte wait, not the idle one
      const r = await call({
        extraHeaders: { 'x-servelab-fault': 'slow_first_token;1200' },
        timeouts: { idleMs: 800 },
      });
      expect(r.status).toBe('ok');
      expect(r.endMs - r.sentMs).toBeGreaterThan(800);
    });

    it('a slow first token shows in TTFT', async () => {
      const r = await call({ extraHeaders: { 'x-servelab-fault': 'slow_first_token;120' } });
      expect(r.status).toBe('ok');
      expect(r.firstTokenMs! - r.sentMs).toBeGreaterThanOrEqual(118);
    });

    it('an aborted signal and a dead endpoint are results, never rejections', async () => {
      const ac = new AbortController();
      ac.abort();
      expect(await call({ signal: ac.signal })).toMatchObject({
        status: 'error',
        error: { kind: 'aborted' },
      });
      const dead = await call({ endpoint: s.deadEndpoint });
      expect(dead).toMatchObject({ status: 'error', error: { kind: 'refused' } });
    });
  });
}

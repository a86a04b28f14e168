import { describe, expect, it } from 'vitest';
import { realTimeClock } from './server/real-clock.js';
import { toyEngine } from './server/testing/toy-engine.js';
import type { ApiError, ChoiceFinish, ServiceSink, Usage } from './service.js';
import { SimService } from './service.js';

function collect(withDelta: boolean) {
  const ev: { deltas: number; finish?: ChoiceFinish; usage?: Usage; error?: ApiError } = { deltas: 0 };
  let resolve: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  const sink: ServiceSink = {
    start() {},
    finish(_c, f) {
      ev.finish = f;
    },
    done(u) {
      ev.usage = u;
      resolve();
    },
    error(e) {
      ev.error = e;
      resolve();
    },
  };
  if (withDelta) sink.delta = () => void ev.deltas++;
  return { ev, sink, done };
}

describe('SimService (in-process path)', () => {
  const clock = realTimeClock();
  const svc = new SimService({
    engine: toyEngine(clock, { model: 'm', stepMs: 1 }),
    clock,
    persona: 'plain',
  });

  it('a sink without delta gets the whole output in finish', async () => {
    const c = collect(false);
    svc.chat({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, ignore_eos: true }, {}, c.sink);
    await c.done;
    expect(c.ev.deltas).toBe(0);
    expect(c.ev.finish?.output.content?.split(' ')).toHaveLength(6);
    expect(c.ev.finish?.finishReason).toBe('length');
    expect(c.ev.usage?.completion_tokens).toBe(6);
  });

  it('a sink with delta gets steps; validation errors come as vLLM bodies', async () => {
    const c = collect(true);
    svc.chat({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, min_tokens: 4 }, {}, c.sink);
    await c.done;
    expect(c.ev.deltas).toBeGreaterThanOrEqual(2);
    const bad = collect(true);
    svc.chat({ messages: [] }, {}, bad.sink);
    await bad.done;
    expect(bad.ev.error?.status).toBe(400);
    expect(bad.ev.error?.body.error.type).toBe('BadRequestError');
  });
});

describe('SimService on the real engine in virtual time', () => {
  it('streams deltas stamped with engine time, and fast-forwards a sink without delta', async () => {
    const { VirtualClock } = await import('./clock.js');
    const { createEngine } = await import('./engine.js');
    const clock = new VirtualClock(0);
    const engine = createEngine(
      { model: 'meta-llama/Llama-3.1-8B-Instruct', gpu: 'H100-SXM-80GB', maxModelLen: 4096 },
      clock,
    );
    const svc = new SimService({ engine, clock, persona: 'plain', modelName: 'm' });
    const times: number[] = [];
    let usage: Usage | undefined;
    const sink: ServiceSink = {
      start() {},
      delta: (_c, _d, now) => void times.push(now),
      finish() {},
      done(u) {
        usage = u;
      },
      error(e) {
        throw new Error(e.body.error.message);
      },
    };
    svc.chat({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 20, ignore_eos: true }, {}, sink);
    const quiet = collect(false);
    svc.chat(
      { messages: [{ role: 'user', content: 'other' }], max_tokens: 50, ignore_eos: true },
      {},
      quiet.sink,
    );
    clock.runUntilIdle(100_000);
    await quiet.done;
    await new Promise((r) => setTimeout(r, 0));
    expect(usage?.completion_tokens).toBe(20);
    // the last step's token rides in finish (vLLM sends it in the chunk with finish_reason)
    expect(times.length).toBe(19);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
    expect(quiet.ev.usage?.completion_tokens).toBe(50);
    expect(quiet.ev.finish?.output.content?.split(' ')).toHaveLength(50);
  });
});

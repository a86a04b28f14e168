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

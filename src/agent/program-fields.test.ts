/**
 * The Continuum fork's fields as the live agent sends them: `this_func_call` is the tool THIS call
 * ends in, which the client cannot know before the answer, so it goes as null (the fork then
 * parses the answer); `last_func_call` is the tool the previous call ended in (none after a user turn).
 */
import { describe, expect, it } from 'vitest';
import type { CallRequest, ToolCall } from '../loadgen/transport.js';
import { driveCell } from './driver.js';
import { callResult } from './testing/calls.js';
import { liveItems, testProgramContext } from './testing/program-context.js';

const tool = (name: string): ToolCall => ({
  id: `c-${name}`,
  type: 'function',
  function: { name, arguments: '{}' },
});

const answer = (toolCalls: ToolCall[], text = '') => callResult({ toolCalls, text });

describe('program fields of a live task', () => {
  it('this_func_call is null; last_func_call names the previous call’s tool, and none after a user turn', async () => {
    // orchestrator answers in order: tool search, tool lookup, text (user turn), tool refund, text (end)
    const script = [[tool('search')], [tool('lookup')], [], [tool('refund')], []];
    const bodies: Record<string, unknown>[] = [];
    const transport = {
      call: async (req: CallRequest) => {
        bodies.push(req.extraBody ?? {});
        return answer(script[bodies.length - 1] ?? [], 'done');
      },
    };
    const items = liveItems(3, 1, 1);
    await driveCell({
      items,
      concurrency: 1,
      graceMs: 0,
      watchdogMs: 60_000,
      onTask: () => {},
      ctx: testProgramContext(transport, {
        config: {
          timeScale: 0,
          programFields: ['job_id', 'is_last_step', 'this_func_call', 'last_func_call'],
        },
        limits: { maxSteps: 10 },
      }),
    });
    expect(bodies.map((b) => [b.this_func_call, b.last_func_call])).toEqual([
      [null, null],
      [null, 'search'],
      [null, 'lookup'],
      [null, null],
      [null, 'refund'],
    ]);
    expect(new Set(bodies.map((b) => b.job_id)).size).toBe(1);
    expect(bodies.every((b) => b.is_last_step === false)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { applyChunk, applyFastContent, newStreamState } from './stream-state.js';

const chunk = (delta: unknown, extra: Record<string, unknown> = {}, finish: string | null = null) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...extra,
  });

describe('applyFastContent agrees with JSON.parse or declines', () => {
  const cases: [string, boolean][] = [
    [chunk({ content: ' the' }), true],
    [chunk({ content: 'say \\"hi\\" \\\\' }), true],
    [chunk({ content: 'a "quoted" \\ back\\\\slash\n new line é 🙂' }), true],
    [chunk({ content: '' }), true],
    [chunk({ role: 'assistant', content: '' }), false],
    [chunk({ content: 'x', reasoning_content: 'y' }), false],
    [chunk({ content: 'x' }, {}, 'stop'), false],
    [chunk({ content: 'x' }, { usage: { prompt_tokens: 1, completion_tokens: 1 } }), false],
    [chunk({ content: 'x' }, { usage: null }), true],
    [
      JSON.stringify({
        choices: [
          { index: 0, delta: { content: 'a' }, finish_reason: null },
          { index: 1, delta: { content: 'b' }, finish_reason: null },
        ],
      }),
      false,
    ],
    [chunk({ content: 'x' }, { servelab: { first_token_ms: 1 } }), false],
    [`${chunk({ content: 'x' }).slice(0, -3)}`, false],
  ];
  it.each(cases)('%s', (data, fast) => {
    const a = newStreamState();
    expect(applyFastContent(a, data, 5)).toBe(fast);
    if (!fast) return;
    const b = newStreamState();
    applyChunk(b, JSON.parse(data), 5);
    expect(a).toEqual(b);
  });
});

import { describe, expect, it } from 'vitest';
import { planFromDirective, planOutput, planTokens } from './persona.js';
import { OutputCursor, outputDryRun, outputTokenIds } from './persona-output.js';
import { parseHermesToolCall } from './policy/index.js';
import { encodeChat } from './tokenizer.js';

const tools = [
  {
    type: 'function',
    function: {
      name: 'call_expert',
      parameters: {
        type: 'object',
        properties: { expert: { type: 'string', enum: ['expert-1', 'expert-2', 'expert-3'] } },
      },
    },
  },
];

describe('personas', () => {
  it('are deterministic per request and seed', () => {
    const input = { messages: [{ role: 'user', content: 'hi' }], enableThinking: true, seed: 1 };
    expect(planOutput('plain', input)).toEqual(planOutput('plain', input));
    expect(planTokens(planOutput('plain', input))).toBeGreaterThan(0);
  });

  it('orchestrator calls tools a seeded number of times per user turn, then answers', () => {
    const messages: { role: string; content: string | null }[] = [{ role: 'user', content: 'task 42' }];
    let calls = 0;
    for (let i = 0; i < 20; i++) {
      const plan = planOutput('orchestrator', { messages, tools, enableThinking: true, seed: 3 });
      if (plan.segments[0]!.kind !== 'tool') break;
      calls++;
      messages.push({ role: 'assistant', content: null }, { role: 'tool', content: 'ok' });
    }
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(6);
  });

  it('the cursor streams a tool call name first, then argument fragments that assemble to JSON', () => {
    const plan = planFromDirective({
      tool_calls: [{ name: 'call_expert', arguments: { expert: 'expert-2', q: 'a b' } }],
    });
    const cur = new OutputCursor(plan, 1);
    const frags: string[] = [];
    let sawName = false;
    for (let i = 0; i < planTokens(plan); i++) {
      const d = cur.take(1);
      for (const t of d?.toolCalls ?? []) {
        if (t.name) {
          expect(frags).toHaveLength(0);
          sawName = true;
        }
        if (t.arguments) frags.push(t.arguments);
      }
    }
    expect(sawName).toBe(true);
    expect(JSON.parse(frags.join(''))).toEqual({ expert: 'expert-2', q: 'a b' });
    expect(cur.toolCallsComplete).toBe(true);
    expect(cur.result().content).toBeNull();
  });

  it('tool_choice required / named makes any persona call a tool', () => {
    const m = [{ role: 'user', content: 'x' }];
    for (let i = 0; i < 5; i++) m.push({ role: 'assistant', content: 'y' });
    const plan = planOutput('plain', {
      messages: m,
      tools,
      forceTools: tools,
      enableThinking: true,
      seed: 0,
    });
    expect(plan.segments[0]).toMatchObject({ kind: 'tool', name: 'call_expert' });
  });

  it('qwen3 thinks unless told not to; gpt-oss reasons', () => {
    const m = [{ role: 'user', content: 'x' }];
    const think = planOutput('qwen3', { messages: m, enableThinking: true, seed: 0 });
    expect(think.segments[0]).toEqual({ kind: 'text', channel: 'content', text: '<think>\n' });
    const no = planOutput('qwen3', { messages: m, enableThinking: false, seed: 0 });
    expect(no.segments).toHaveLength(1);
    expect(planOutput('gpt-oss', { messages: m, enableThinking: true, seed: 0 }).segments[0]).toMatchObject({
      channel: 'reasoning',
    });
  });
});

describe('output token ids', () => {
  it('match how the template re-encodes the answer when the client sends it back', () => {
    const plan = planFromDirective({
      output_tokens: 30,
      tool_calls: [{ name: 'call_expert', arguments: { expert: 'expert-1' } }],
    });
    const n = planTokens(plan);
    const ids = outputTokenIds(plan, 9, n);
    const cur = new OutputCursor(plan, 9);
    cur.take(n);
    const out = cur.result();
    const resent = encodeChat([
      {
        role: 'assistant',
        content: out.content,
        tool_calls: out.toolCalls.map((t) => ({
          id: t.id,
          type: 'function',
          function: { name: t.name, arguments: t.arguments },
        })),
      },
    ]);
    expect(ids).toHaveLength(n);
    expect([...resent.slice(2, 2 + n)]).toEqual(ids);
  });
});

describe('the raw output text (what the continuum policy parses)', () => {
  it('is the answer as the model writes it: <think> for reasoning, hermes <tool_call> markup, same tokens as the ids', () => {
    const plan = planOutput('orchestrator', {
      messages: [{ role: 'user', content: 'help me' }],
      tools,
      enableThinking: false,
      forceTools: tools,
      seed: 3,
    });
    const n = planTokens(plan);
    const dry = outputDryRun(plan, 5, n, true);
    expect(dry.ids).toEqual(outputTokenIds(plan, 5, n));
    expect(dry.text).toMatch(
      /^<tool_call>\n\{"name": "call_expert", "arguments": \{"expert":"expert-\d"\}\}\n<\/tool_call>$/,
    );
    // call_expert names its expert, as the fork's hermes parser does
    expect(parseHermesToolCall(dry.text!)).toMatch(/^expert-\d$/);
    // gpt-oss: reasoning channel inside a think block, then the answer
    const g = planOutput('gpt-oss', {
      messages: [{ role: 'user', content: 'x' }],
      enableThinking: true,
      seed: 1,
    });
    const t = outputDryRun(g, 1, planTokens(g), true).text!;
    expect(t.startsWith('<think>\n')).toBe(true);
    expect(t).toContain('</think>');
    expect(parseHermesToolCall(t)).toBe('user_turn');
    // no text unless asked
    expect(outputDryRun(g, 1, 4, false).text).toBeUndefined();
  });
});

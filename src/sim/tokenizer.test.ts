import { afterEach, describe, expect, it } from 'vitest';
import { setMessageMemo } from '../memo.js';
import { countTokens, encodeChat, encodeText, splitPieces } from './tokenizer.js';

describe('sim tokenizer', () => {
  it('counts one token per word or punctuation mark, with stable ids', () => {
    expect(countTokens('Hello, world!')).toBe(4);
    expect(countTokens('the  quick\nbrown')).toBe(3);
    expect(encodeText('same words')).toEqual(encodeText('same words'));
    expect(encodeText('a b')[0]).not.toBe(encodeText('a b')[1]);
    expect(splitPieces(' hi, there ').join('')).toBe(' hi, there ');
  });

  it('adds template overhead per message, counts tools, and shares prefixes across calls', () => {
    const user = { role: 'user', content: 'one two three' };
    const a = encodeChat([user]);
    expect(a.length).toBe(3 + 3 + 2);
    const parts = encodeChat([{ role: 'user', content: [{ type: 'text', text: 'one two three' }] }]);
    expect(parts).toEqual(a);
    const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }];
    expect(encodeChat([user], tools).length).toBeGreaterThan(a.length + 10);
    const longer = encodeChat([
      user,
      { role: 'assistant', content: null, tool_calls: [{ function: { name: 'f' } }] } as never,
    ]);
    expect(longer.slice(0, a.length - 2)).toEqual(a.slice(0, a.length - 2));
  });

  describe('per-message memo', () => {
    afterEach(() => setMessageMemo(true));
    const plain = (ms: Parameters<typeof encodeChat>[0], tools?: unknown[]) => {
      setMessageMemo(false);
      const ids = [...encodeChat(ms, tools)];
      setMessageMemo(true);
      return ids;
    };

    it('gives the same ids as encoding every message, for tools, tool calls, tool results and content parts', () => {
      const long = 'word '.repeat(300);
      const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
      const conv = [
        { role: 'system', content: long },
        { role: 'user', content: 'find order 7' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"id": "7"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: `found: ${long}` },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'and ' },
            { type: 'text', text: 'then?' },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ function: { name: 'x' } }] },
        { role: 'assistant', content: null, tool_calls: [{ bare: true }] },
      ];
      for (let n = 1; n <= conv.length; n++) {
        const ms = conv.slice(0, n);
        expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
        expect([...encodeChat(ms)]).toEqual(plain(ms));
        // again: now from the memo
        expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      }
    });

    it('re-encodes a message changed in place (content, role, tool call arguments, tools list)', () => {
      const m = { role: 'user', content: 'first text of the message' };
      const tc = { id: 'c', type: 'function', function: { name: 'f', arguments: '{"a": 1}' } };
      const a = { role: 'assistant', content: null as string | null, tool_calls: [tc] };
      const tools: unknown[] = [{ type: 'function', function: { name: 'f' } }];
      const ms = [m, a];
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      m.content = 'second, quite different text';
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      m.role = 'system';
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      tc.function.arguments = '{"a": 2, "b": 3}';
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      tc.function = { name: 'g', arguments: '{}' };
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      a.tool_calls.push({ ...tc, id: 'd' });
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      a.content = 'now with text';
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      tools.push({ type: 'function', function: { name: 'h' } });
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
      tools[1] = { type: 'function', function: { name: 'k' } };
      expect([...encodeChat(ms, tools)]).toEqual(plain(ms, tools));
    });
  });
});

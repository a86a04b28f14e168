import { describe, expect, it } from 'vitest';
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
});

import { afterEach, describe, expect, it } from 'vitest';
import { setMessageMemo } from '../memo.js';
import { hashBlock, ROOT_HASH } from './block-hash.js';
import { type PromptIds, promptArray } from './prompt-parts.js';
import {
  type ChatMessageLike,
  countTokens,
  encodeChat,
  encodeChatPrefixed,
  encodeText,
  isSpaceUnit,
  pieceId,
  prefixBlockHashes,
  splitPieces,
} from './tokenizer.js';

describe('sim tokenizer', () => {
  it('counts one token per word or punctuation mark, with stable ids', () => {
    expect(countTokens('Hello, world!')).toBe(4);
    expect(countTokens('the  quick\nbrown')).toBe(3);
    expect(encodeText('same words')).toEqual(encodeText('same words'));
    expect(encodeText('a b')[0]).not.toBe(encodeText('a b')[1]);
    expect(splitPieces(' hi, there ').join('')).toBe(' hi, there ');
  });

  it('reads the pieces off the code units exactly as the piece regex matches them (every UTF-16 unit, random texts)', () => {
    const wrong: string[] = [];
    for (let c = 0; c < 0x10000; c++)
      if (isSpaceUnit(c) !== /\s/.test(String.fromCharCode(c))) wrong.push(`U+${c.toString(16)}`);
    expect(wrong).toEqual([]);
    const viaRegex = (t: string) => (t.match(/\w+|[^\w\s]/g) ?? []).map(pieceId);
    const alphabet = [
      'a',
      'Z',
      '0',
      '_',
      ' ',
      '\n',
      '\t',
      ',',
      '\u00e9',
      '\u00a0',
      '\u2003',
      '\ufeff',
      '\ud83d\ude00',
      '-',
      '\u3000',
      '\u4e2d',
    ];
    let seed = 5;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let k = 0; k < 400; k++) {
      let t = '';
      const len = Math.floor(rnd() * 200);
      for (let i = 0; i < len; i++) t += alphabet[Math.floor(rnd() * alphabet.length)];
      // short texts are encoded as they come, long ones cached: both
      expect(Array.from(encodeText(t)), JSON.stringify(t)).toEqual(viaRegex(t));
    }
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

  describe('per-message memo (in-process callers)', () => {
    afterEach(() => setMessageMemo(true));
    type Msgs = Parameters<typeof encodeChat>[0];
    const plain = (ms: Msgs, tools?: unknown[]) => [...encodeChat(ms, tools)];
    const memo = (ms: Msgs, tools?: unknown[]) => [...encodeChat(ms, tools, { perMessage: true })];
    /** every full block's hash, chained over the ids, as the engine computes them */
    const direct = (p: PromptIds, upTo: number, bs: number) => {
      const ids = promptArray(p);
      const out: number[] = [];
      for (let k = 0; (k + 1) * bs <= upTo; k++)
        out.push(hashBlock(k === 0 ? ROOT_HASH : out[k - 1]!, ids, k * bs, bs));
      return out;
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
        expect(memo(ms, tools)).toEqual(plain(ms, tools));
        expect(memo(ms)).toEqual(plain(ms));
        // again: now from the memo
        expect(memo(ms, tools)).toEqual(plain(ms, tools));
      }
      // the switch off: the plain encoding, no prefix
      setMessageMemo(false);
      const off = encodeChatPrefixed(conv, tools);
      expect(off.prefix).toBeUndefined();
      expect([...off.ids]).toEqual(plain(conv, tools));
    });

    it('re-encodes a message changed in place (content, role, tool call arguments, tools list)', () => {
      const m = { role: 'user', content: 'first text of the message' };
      const tc = { id: 'c', type: 'function', function: { name: 'f', arguments: '{"a": 1}' } };
      const a = { role: 'assistant', content: null as string | null, tool_calls: [tc] };
      const tools: unknown[] = [{ type: 'function', function: { name: 'f' } }];
      const ms = [m, a];
      const check = () => {
        expect(memo(ms, tools)).toEqual(plain(ms, tools));
        const p = encodeChatPrefixed(ms, tools);
        expect(prefixBlockHashes(p.prefix!, p.ids, 4)).toEqual(direct(p.ids, p.ids.length - 2, 4));
      };
      check();
      m.content = 'second, quite different text';
      check();
      m.role = 'system';
      check();
      tc.function.arguments = '{"a": 2, "b": 3}';
      check();
      tc.function = { name: 'g', arguments: '{}' };
      check();
      a.tool_calls.push({ ...tc, id: 'd' });
      check();
      a.content = 'now with text';
      check();
      tools.push({ type: 'function', function: { name: 'h' } });
      check();
      tools[1] = { type: 'function', function: { name: 'k' } };
      check();
    });

    it('gives each prompt the block hashes of its prefix, as hashing its ids would, across growing, trimmed and shared conversations and block sizes', () => {
      const text = (i: number) => `message ${i} `.repeat(1 + ((i * 7) % 13));
      const head = { role: 'system', content: text(100) };
      const expertHead = { role: 'system', content: text(101) };
      const tools = [{ type: 'function', function: { name: 'f' } }];
      const conv: ChatMessageLike[] = [head];
      for (let i = 0; i < 30; i++) {
        conv.push({ role: i % 3 === 0 ? 'tool' : i % 3 === 1 ? 'assistant' : 'user', content: text(i) });
        // the orchestrator's prompt, an expert's view of the same messages, a trimmed one
        const prompts: [Msgs, unknown[] | undefined][] = [
          [[...conv], tools],
          [[expertHead, ...conv.slice(1)], undefined],
          [[head, ...conv.slice(Math.max(1, conv.length - 4))], tools],
        ];
        for (const [ms, t] of prompts)
          for (const bs of [16, 5, 16]) {
            const p = encodeChatPrefixed(ms, t);
            expect([...p.ids]).toEqual(plain(ms, t));
            expect(p.prefix!.end).toBe(p.ids.length - 2);
            expect(prefixBlockHashes(p.prefix!, p.ids, bs)).toEqual(direct(p.ids, p.ids.length - 2, bs));
          }
      }
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../loadgen/transport.js';
import { setMessageMemo } from '../memo.js';
import { forExpert } from './live.js';

describe('forExpert (the conversation as an expert sees it)', () => {
  afterEach(() => setMessageMemo(true));
  const plain = (ms: ChatMessage[]) => {
    setMessageMemo(false);
    const v = forExpert(ms);
    setMessageMemo(true);
    return v;
  };

  it('sends the same view objects on every call of a program, and a fresh one for a message changed in place', () => {
    const call = {
      id: 'c1',
      type: 'function' as const,
      function: { name: 'lookup', arguments: '{"id": "7"}' },
    };
    const asst: ChatMessage = { role: 'assistant', content: null, tool_calls: [call] };
    const tool: ChatMessage = { role: 'tool', tool_call_id: 'c1', content: 'order 7: shipped' };
    const ms: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'hi' },
      asst,
      tool,
    ];
    const a = forExpert(ms);
    expect(a).toEqual(plain(ms));
    expect(a[2]).toEqual({ role: 'assistant', content: 'lookup({"id": "7"})' });
    expect(a[3]).toEqual({ role: 'user', content: 'order 7: shipped' });
    const b = forExpert([...ms, { role: 'user', content: 'more' }]);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBe(a[i]);
    // changed in place: a new view, the same as without the memo
    call.function.arguments = '{"id": "8"}';
    tool.content = 'order 8: lost';
    const c = forExpert(ms);
    expect(c).toEqual(plain(ms));
    expect(c[2]).not.toBe(a[2]);
    asst.content = 'looking it up';
    expect(forExpert(ms)).toEqual(plain(ms));
  });
});

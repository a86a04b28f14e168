import { describe, expect, it } from 'vitest';
import { parseBashBlock, parseHermesToolCall, resolveFuncCall } from './tool-call-parse.js';

describe('the Continuum fork tool-call parsers', () => {
  it('hermes: tool name, call_expert -> the expert, several -> multi_tool, none -> user_turn', () => {
    expect(
      parseHermesToolCall(
        '<think>x</think>\n<tool_call>\n{"name": "get_order", "arguments": {}}\n</tool_call>',
      ),
    ).toBe('get_order');
    expect(
      parseHermesToolCall(
        '<tool_call>{"name": "call_expert", "arguments": {"expert": "expert-2"}}</tool_call>',
      ),
    ).toBe('expert-2');
    expect(
      parseHermesToolCall(
        '<tool_call>{"name": "call_expert", "arguments": "{\\"expert\\": \\"expert-3\\"}"}',
      ),
    ).toBe('expert-3');
    expect(
      parseHermesToolCall('<tool_call>{"name": "a"}</tool_call><tool_call>{"name": "b"}</tool_call>'),
    ).toBe('multi_tool');
    expect(parseHermesToolCall('{"name": "lookup", "parameters": {"id": 1}}')).toBe('lookup');
    expect(parseHermesToolCall('<message>Your order is on its way.</message>')).toBe('user_turn');
    expect(parseHermesToolCall('<tool_call>not json</tool_call>')).toBe('user_turn');
    expect(parseHermesToolCall('')).toBeNull();
  });

  it('bash-only (the fork before 2026-01-13): exactly one ```bash block, its first word', () => {
    expect(parseBashBlock('run:\n```bash\nls -la /tmp\n```\n')).toBe('ls');
    expect(parseBashBlock('```bash\nls\n```\n```bash\ncd x\n```')).toBeNull();
    expect(parseBashBlock('<tool_call>{"name": "get_order"}</tool_call>')).toBeNull();
  });

  it('the client field wins with hermes; bash-only overwrites it with its own parse', () => {
    const text = '<tool_call>{"name": "get_order", "arguments": {}}</tool_call>';
    expect(resolveFuncCall('hermes', 'search', text)).toBe('search');
    expect(resolveFuncCall('hermes', ' ', text)).toBe('get_order');
    expect(resolveFuncCall('bashOnly', 'search', text)).toBeNull();
    expect(resolveFuncCall('hermes', undefined, undefined)).toBeNull();
  });
});

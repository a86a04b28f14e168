import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../loadgen/transport.js';
import { type HistoryRef, PromptShape } from './prompt-shape.js';
import { mulberry32 } from './rng.js';

/** the earlier rule, written out with copies: the longest earlier prompt (+ answer) this one starts with */
function reference(calls: { prompt: ChatMessage[]; answer?: ChatMessage }[], messages: ChatMessage[]) {
  const starts = (seq: ChatMessage[], head: ChatMessage[]) =>
    head.length <= seq.length && head.every((m, k) => seq[k] === m);
  let best: { ref: HistoryRef; len: number } | undefined;
  calls.forEach((c, j) => {
    const withAnswer = c.answer ? [...c.prompt, c.answer] : undefined;
    if (withAnswer && starts(messages, withAnswer)) {
      if (!best || withAnswer.length > best.len)
        best = { ref: { step: j, answer: true }, len: withAnswer.length };
    } else if (starts(messages, c.prompt) && (!best || c.prompt.length > best.len)) {
      best = { ref: { step: j, answer: false }, len: c.prompt.length };
    }
  });
  return best ? { history: best.ref } : {};
}

describe('PromptShape', () => {
  it('finds the longest earlier prompt (with or without its answer) each prompt starts with, as the rule with copies does', () => {
    const rng = mulberry32(11);
    for (let program = 0; program < 200; program++) {
      const head: ChatMessage = { role: 'system', content: 'head' };
      const shape = new PromptShape();
      const calls: { prompt: ChatMessage[]; answer?: ChatMessage }[] = [];
      let conv: ChatMessage[] = [head];
      for (let step = 0; step < 12; step++) {
        // grow, restart from the head, trim the middle, or go on from an earlier prompt without its answer
        const r = rng.next();
        let prompt: ChatMessage[];
        if (r < 0.1) prompt = [head, { role: 'user', content: 'new' }];
        else if (r < 0.2 && conv.length > 3)
          prompt = [head, ...conv.slice(3), { role: 'user', content: 't' }];
        else if (r < 0.3 && calls.length > 0)
          prompt = [...calls[Math.floor(rng.next() * calls.length)]!.prompt, { role: 'user', content: 'x' }];
        else prompt = [...conv, { role: 'tool', content: 'r' }];
        expect(shape.prompt(step, prompt)).toEqual(reference(calls, prompt));
        calls[step] = { prompt: [...prompt] };
        if (rng.next() < 0.9) {
          const answer: ChatMessage = { role: 'assistant', content: `a${step}` };
          shape.answered(step, answer);
          calls[step]!.answer = answer;
          conv = [...prompt, answer];
        } else conv = prompt;
      }
    }
  });
});

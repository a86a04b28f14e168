import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shellCommand, shellQuote } from './shell-quote.js';

/**
 * What bash makes of a printed command line: its words after all expansion, run in an empty
 * directory that must stay empty (a payload that ran would leave a file).
 */
function wordsOf(line: string): string[] {
  const cwd = mkdtempSync(join(tmpdir(), 'servelab-quote-'));
  const out = execFileSync('bash', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8', cwd });
  expect(readdirSync(cwd)).toEqual([]);
  return out.split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  it('leaves plain words alone', () => {
    expect(shellQuote('runs/w1-20261201T120000Z')).toBe('runs/w1-20261201T120000Z');
    expect(shellCommand(['servelab', 'analyze', '/tmp/a.b/c_d'])).toBe('servelab analyze /tmp/a.b/c_d');
  });

  it.each([
    ['a space', '/tmp/my runs/r1'],
    ['a command substitution', '/tmp/x$(touch pwned)/r'],
    ['backticks and a variable', '/tmp/`id`/$HOME'],
    ['single quotes', "/tmp/it's 'here'"],
    ['a glob, a tilde and a comment', '~/r*#x'],
    ['a newline and a semicolon', '/tmp/a\nb; rm -rf /'],
    ['an empty word', ''],
    ['a leading dash is still one word', '-rf'],
  ])('%s reads back as the literal word in bash', (_what, word) => {
    expect(wordsOf(shellQuote(word))).toEqual([word]);
  });

  it('a whole command reads back word by word, and nothing in it runs', () => {
    const words = ['servelab', 'run', '/tmp/spec $(touch x).yaml', '--resume', "/tmp/r'; touch y; '"];
    expect(wordsOf(shellCommand(words))).toEqual(words);
  });
});

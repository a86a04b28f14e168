/**
 * Commands servelab prints for the user to paste (`servelab analyze DIR`, the `--resume` line)
 * hold paths and values that came from the user, a spec or a server. A path such as
 * `runs/$(rm -rf ~)` pasted unquoted runs the payload, so every word goes through here: POSIX
 * single-quote quoting, only when the word needs it. (Leaf module: imports nothing.)
 */

/** Characters no POSIX shell treats specially anywhere in a word. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One word as a shell reads it back literally: unchanged when made only of safe characters,
 * else in single quotes, each `'` written as `'\''` (nothing is special inside single quotes).
 */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line from its words, each quoted as it needs. */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/**
 * One switch for the per-message memos of the in-process (virtual-time) hot path: the
 * simulator tokenizer's per-message ids (`sim/tokenizer.ts`), the agent's per-message word
 * counts (`agent/history.ts`) and prefix segments (`agent/prompt-shape.ts`). They change no
 * result, only the CPU per call; off, each call recomputes everything from its messages (the
 * code before the memos), which the exactness tests compare against. On by default.
 */
let on = true;

export function messageMemoOn(): boolean {
  return on;
}

export function setMessageMemo(enabled: boolean): void {
  on = enabled;
}

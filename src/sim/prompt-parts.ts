/**
 * A prompt's token ids as the arrays they were put together from (in process, the tokenizer's
 * per-message ids: sim/tokenizer.ts encodeChatPrefixed), read in place. The engine reads only
 * the few prompt tokens no given block hash covers (the block the prompt ends in), so the
 * prompt is not copied whole on every call. The parts must not change while a request reads
 * them (the tokenizer's per-message arrays never do: a changed message gets new ones).
 */
import { hashBlock } from './block-hash.js';

export class PromptParts implements Iterable<number> {
  readonly length: number;
  private readonly starts: number[] = [];
  private flat: Uint32Array | undefined = undefined;

  constructor(private readonly parts: readonly ArrayLike<number>[]) {
    let n = 0;
    for (const p of parts) {
      this.starts.push(n);
      n += p.length;
    }
    this.length = n;
  }

  /** the part holding token i (0 <= i < length): the last part starting at or before i */
  private partOf(i: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** token i, or undefined outside the prompt */
  at(i: number): number | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    const k = this.partOf(i);
    return this.parts[k]![i - this.starts[k]!];
  }

  /** tokens start .. start+n-1 into out[0 .. n-1] (inside the prompt) */
  copyTo(out: { [i: number]: number }, start: number, n: number): void {
    let k = this.partOf(start);
    let j = start - this.starts[k]!;
    for (let w = 0; w < n; ) {
      const p = this.parts[k]!;
      const take = Math.min(p.length - j, n - w);
      for (let x = 0; x < take; x++) out[w + x] = p[j + x]!;
      w += take;
      k++;
      j = 0;
    }
  }

  /** the whole prompt as one array (made once) */
  toArray(): Uint32Array {
    if (!this.flat) {
      const out = new Uint32Array(this.length);
      this.parts.forEach((p, k) => {
        out.set(p, this.starts[k]!);
      });
      this.flat = out;
    }
    return this.flat;
  }

  [Symbol.iterator](): Iterator<number> {
    return this.toArray()[Symbol.iterator]();
  }
}

/** a prompt's ids: one array, or the parts it was put together from */
export type PromptIds = ArrayLike<number> | PromptParts;

/** the ids as one array (a PromptParts is put together) */
export function promptArray(p: PromptIds): ArrayLike<number> {
  return p instanceof PromptParts ? p.toArray() : p;
}

let scratchBuf = new Float64Array(16);

/** hashBlock over prompt tokens start .. start+len-1, the same hash for either form of the ids */
export function hashPromptBlock(parent: number, ids: PromptIds, start: number, len: number): number {
  if (!(ids instanceof PromptParts)) return hashBlock(parent, ids, start, len);
  if (scratchBuf.length < len) scratchBuf = new Float64Array(len);
  ids.copyTo(scratchBuf, start, len);
  return hashBlock(parent, scratchBuf, 0, len);
}

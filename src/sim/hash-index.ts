/**
 * hash -> block id, for 53-bit integer hashes: open addressing with linear probing and
 * backward-shift deletion over typed arrays. A Map keyed by non-Smi numbers boxes every key;
 * this keeps the prefix-cache lookups allocation-free. Holds at most `maxEntries` keys.
 */
export class HashIndex {
  private readonly keys: Float64Array;
  private readonly vals: Int32Array;
  private readonly mask: number;
  size = 0;

  constructor(maxEntries: number) {
    let cap = 16;
    while (cap < maxEntries * 2) cap *= 2;
    this.keys = new Float64Array(cap);
    this.vals = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }

  private home(key: number): number {
    // the low 32 bits of a block hash are already avalanche-mixed
    return (key >>> 0) & this.mask;
  }

  /** value for key, or -1 */
  get(key: number): number {
    const mask = this.mask;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      const v = this.vals[i]!;
      if (v < 0) return -1;
      if (this.keys[i] === key) return v;
    }
  }

  has(key: number): boolean {
    return this.get(key) >= 0;
  }

  /** insert or overwrite */
  set(key: number, val: number): void {
    const mask = this.mask;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      const v = this.vals[i]!;
      if (v < 0) {
        if (this.size * 2 >= this.vals.length) throw new RangeError('HashIndex full');
        this.keys[i] = key;
        this.vals[i] = val;
        this.size++;
        return;
      }
      if (this.keys[i] === key) {
        this.vals[i] = val;
        return;
      }
    }
  }

  delete(key: number): boolean {
    const mask = this.mask;
    let i = this.home(key);
    for (;;) {
      const v = this.vals[i]!;
      if (v < 0) return false;
      if (this.keys[i] === key) break;
      i = (i + 1) & mask;
    }
    // backward-shift: pull later entries of the probe run into the hole
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.vals[j]! < 0) break;
      const k = this.home(this.keys[j]!);
      const movable = i <= j ? k <= i || k > j : k <= i && k > j;
      if (movable) {
        this.keys[i] = this.keys[j]!;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    this.vals[i] = -1;
    this.size--;
    return true;
  }

  clear(): void {
    this.vals.fill(-1);
    this.size = 0;
  }
}

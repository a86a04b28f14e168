/**
 * Paged KV block pool with prefix caching, as vLLM V1's BlockPool:
 * - block 0 is the reserved null block; blocks 1..n-1 start in the free queue;
 * - the free queue also holds cached blocks whose refcount is 0; allocation pops from the head
 *   and evicts a popped block's hash (LRU);
 * - a finished request frees its blocks to the tail in REVERSE order, so a prefix chain loses
 *   its tail first;
 * - a hash -> block map finds cached full blocks; touching a cached free block pulls it out of
 *   the queue.
 * Typed arrays and an intrusive doubly linked list: no allocation on the hot path.
 */
import { HashIndex } from './hash-index.js';

const NONE = -1;

export class BlockPool {
  readonly numBlocks: number;
  private readonly ref: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly inFree: Uint8Array;
  /** block -> hash, NaN when the block is not cached */
  private readonly hashOf: Float64Array;
  private readonly byHash: HashIndex;
  private head = NONE;
  private tail = NONE;
  private free = 0;
  readonly prefixCaching: boolean;
  /**
   * Opt-in fault for soak tests (loadgen/scenarios/sim-drift.ts): one in `leakOneIn` blocks whose
   * refcount drops to 0 is lost (never back in the free queue, its hash dropped), as a refcount
   * leak would lose it: KV usage creeps up. 0 (the default): off.
   */
  leakOneIn = 0;
  /** blocks lost to leakOneIn so far */
  leaked = 0;
  private leakCount = 0;

  constructor(numBlocks: number, prefixCaching = true) {
    if (!Number.isInteger(numBlocks) || numBlocks < 2)
      throw new RangeError(`numBlocks must be >= 2, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    this.prefixCaching = prefixCaching;
    this.ref = new Int32Array(numBlocks);
    this.prev = new Int32Array(numBlocks).fill(NONE);
    this.next = new Int32Array(numBlocks).fill(NONE);
    this.inFree = new Uint8Array(numBlocks);
    this.hashOf = new Float64Array(numBlocks).fill(Number.NaN);
    this.byHash = new HashIndex(numBlocks);
    for (let b = 1; b < numBlocks; b++) this.pushTail(b);
  }

  get numFree(): number {
    return this.free;
  }

  /** vllm:kv_cache_usage_perc: 1 - free / (num_gpu_blocks - 1); cached idle blocks count as free */
  get usageFrac(): number {
    return 1 - this.free / (this.numBlocks - 1);
  }

  get numCached(): number {
    return this.byHash.size;
  }

  private pushTail(b: number): void {
    this.prev[b] = this.tail;
    this.next[b] = NONE;
    if (this.tail === NONE) this.head = b;
    else this.next[this.tail] = b;
    this.tail = b;
    this.inFree[b] = 1;
    this.free++;
  }

  private unlink(b: number): void {
    const p = this.prev[b]!;
    const n = this.next[b]!;
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.prev[b] = NONE;
    this.next[b] = NONE;
    this.inFree[b] = 0;
    this.free--;
  }

  /** the cached block holding this hash, or -1 */
  lookup(hash: number): number {
    return this.byHash.get(hash);
  }

  /** is this block in the free queue (refcount 0)? */
  isFree(b: number): boolean {
    return this.inFree[b] === 1;
  }

  refCount(b: number): number {
    return this.ref[b]!;
  }

  /** take a reference on a cached block (prefix hit), pulling it out of the free queue if idle */
  touch(b: number): void {
    if (this.inFree[b] === 1) this.unlink(b);
    this.ref[b]!++;
  }

  /** pop n blocks from the head of the free queue into out (caller checked numFree >= n) */
  allocate(n: number, out: number[]): void {
    if (n > this.free) throw new RangeError(`allocate ${n} > free ${this.free}`);
    for (let i = 0; i < n; i++) {
      const b = this.head;
      this.unlink(b);
      const h = this.hashOf[b]!;
      if (!Number.isNaN(h)) {
        // evict: the block is about to be overwritten
        this.byHash.delete(h);
        this.hashOf[b] = Number.NaN;
      }
      this.ref[b] = 1;
      out.push(b);
    }
  }

  /** release a request's blocks, last block first, so the free queue loses the chain tail first */
  freeBlocks(blocks: readonly number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i]!;
      if (--this.ref[b]! === 0 && !(this.leakOneIn > 0 && this.leak(b))) this.pushTail(b);
    }
  }

  private leak(b: number): boolean {
    if (++this.leakCount < this.leakOneIn) return false;
    this.leakCount = 0;
    const h = this.hashOf[b]!;
    if (!Number.isNaN(h)) {
      this.byHash.delete(h);
      this.hashOf[b] = Number.NaN;
    }
    this.leaked++;
    return true;
  }

  /** register a newly full block under its hash; a hash already cached keeps its first block */
  cache(b: number, hash: number): void {
    if (!this.prefixCaching) return;
    if (!Number.isNaN(this.hashOf[b]!)) return;
    if (this.byHash.has(hash)) return;
    this.byHash.set(hash, b);
    this.hashOf[b] = hash;
  }

  /** drop every cached hash (vLLM reset_prefix_cache); false if any block is in use */
  reset(): boolean {
    if (this.free !== this.numBlocks - 1) return false;
    this.byHash.clear();
    this.hashOf.fill(Number.NaN);
    return true;
  }

  /** free-queue order head -> tail (tests, debugging) */
  freeOrder(): number[] {
    const out: number[] = [];
    for (let b = this.head; b !== NONE; b = this.next[b]!) out.push(b);
    return out;
  }
}

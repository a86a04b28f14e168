import { describe, expect, it } from 'vitest';
import { BlockPool } from './block-pool.js';

describe('BlockPool', () => {
  it('starts with every block but the null block free, in id order', () => {
    const p = new BlockPool(6);
    expect(p.numFree).toBe(5);
    expect(p.freeOrder()).toEqual([1, 2, 3, 4, 5]);
    expect(p.usageFrac).toBe(0);
  });

  it('usage = 1 - free / (num_gpu_blocks - 1)', () => {
    const p = new BlockPool(11);
    const got: number[] = [];
    p.allocate(4, got);
    expect(got).toEqual([1, 2, 3, 4]);
    expect(p.usageFrac).toBeCloseTo(1 - 6 / 10, 12);
  });

  it('counts cached blocks with refcount 0 as free', () => {
    const p = new BlockPool(11);
    const b: number[] = [];
    p.allocate(3, b);
    for (const [i, blk] of b.entries()) p.cache(blk, 100 + i);
    p.freeBlocks(b);
    expect(p.numFree).toBe(10);
    expect(p.usageFrac).toBe(0);
    expect(p.numCached).toBe(3);
  });

  it('frees a request in reverse order so the chain tail is evicted first (LRU from the head)', () => {
    const p = new BlockPool(7); // blocks 1..6
    const a: number[] = [];
    p.allocate(3, a); // [1,2,3], queue 4,5,6
    for (const [i, blk] of a.entries()) p.cache(blk, 1000 + i); // chain h0,h1,h2
    p.freeBlocks(a);
    expect(p.freeOrder()).toEqual([4, 5, 6, 3, 2, 1]);
    const x: number[] = [];
    p.allocate(3, x); // the never-cached 4,5,6
    expect(p.lookup(1002)).toBe(3);
    const y: number[] = [];
    p.allocate(1, y); // evicts block 3 = the chain's last block
    expect(y).toEqual([3]);
    expect(p.lookup(1002)).toBe(-1);
    expect(p.lookup(1000)).toBe(1);
    expect(p.lookup(1001)).toBe(2);
  });

  it('touching a cached idle block takes it out of the free queue; a shared block frees at refcount 0', () => {
    const p = new BlockPool(5);
    const a: number[] = [];
    p.allocate(2, a);
    p.cache(a[0]!, 7);
    p.freeBlocks(a);
    expect(p.isFree(1)).toBe(true);
    p.touch(1);
    p.touch(1);
    expect(p.isFree(1)).toBe(false);
    expect(p.refCount(1)).toBe(2);
    expect(p.numFree).toBe(3);
    p.freeBlocks([1]);
    expect(p.isFree(1)).toBe(false);
    p.freeBlocks([1]);
    expect(p.isFree(1)).toBe(true);
    expect(p.freeOrder().at(-1)).toBe(1);
  });

  it('keeps the first block registered for a hash', () => {
    const p = new BlockPool(5);
    const a: number[] = [];
    p.allocate(2, a);
    p.cache(a[0]!, 42);
    p.cache(a[1]!, 42);
    expect(p.lookup(42)).toBe(a[0]);
  });

  it('reset drops every hash only when no block is in use', () => {
    const p = new BlockPool(5);
    const a: number[] = [];
    p.allocate(1, a);
    p.cache(a[0]!, 9);
    expect(p.reset()).toBe(false);
    p.freeBlocks(a);
    expect(p.reset()).toBe(true);
    expect(p.lookup(9)).toBe(-1);
  });

  it('does not cache when prefix caching is off', () => {
    const p = new BlockPool(5, false);
    const a: number[] = [];
    p.allocate(1, a);
    p.cache(a[0]!, 9);
    expect(p.lookup(9)).toBe(-1);
  });

  it('leakOneIn (opt-in fault): one in N blocks whose refcount drops to 0 is lost, hash dropped', () => {
    const p = new BlockPool(11);
    p.leakOneIn = 3;
    const a: number[] = [];
    p.allocate(6, a);
    for (const [i, blk] of a.entries()) p.cache(blk, 100 + i);
    p.freeBlocks(a); // frees 6, 5, 4, 3, 2, 1: the 3rd and the 6th freed (4 and 1) are lost
    expect(p.leaked).toBe(2);
    expect(p.numFree).toBe(8);
    expect(p.usageFrac).toBeCloseTo(0.2, 12);
    expect(p.freeOrder()).not.toContain(4);
    expect(p.freeOrder()).not.toContain(1);
    // a lost block is not found as a prefix hit (which would bring it back)
    expect(p.lookup(103)).toBe(-1);
    expect(p.lookup(100)).toBe(-1);
    expect(p.lookup(102)).toBe(a[2]);
  });

  it('leaks nothing by default', () => {
    const p = new BlockPool(11);
    const a: number[] = [];
    p.allocate(10, a);
    p.freeBlocks(a);
    expect(p.leaked).toBe(0);
    expect(p.numFree).toBe(10);
  });
});

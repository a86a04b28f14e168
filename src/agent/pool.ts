/**
 * Endpoint pools: model name -> replicas, one chosen per call (random as the users' driver
 * does, seeded; round-robin; or least outstanding calls).
 */
import { ServelabError } from '../errors.js';
import type { Endpoint } from '../loadgen/transport.js';
import { mulberry32, type Rng } from './rng.js';

export type PoolChoice = 'random' | 'round-robin' | 'least-outstanding';

export interface Lease {
  endpoint: Endpoint;
  release(): void;
}

export class EndpointPool {
  private readonly outstanding: number[];
  private next = 0;
  private readonly rng: Rng;

  constructor(
    readonly model: string,
    readonly replicas: readonly Endpoint[],
    readonly choice: PoolChoice,
    seed: number,
  ) {
    if (replicas.length === 0) throw new ServelabError('BAD_CONFIG', `model "${model}" has no replicas`);
    this.outstanding = replicas.map(() => 0);
    this.rng = mulberry32(seed);
  }

  private pick(): number {
    const n = this.replicas.length;
    if (n === 1) return 0;
    if (this.choice === 'random') return Math.floor(this.rng.next() * n);
    if (this.choice === 'round-robin') {
      const i = this.next;
      this.next = (this.next + 1) % n;
      return i;
    }
    let best = 0;
    for (let i = 1; i < n; i++) if ((this.outstanding[i] ?? 0) < (this.outstanding[best] ?? 0)) best = i;
    return best;
  }

  acquire(): Lease {
    const i = this.pick();
    this.outstanding[i] = (this.outstanding[i] ?? 0) + 1;
    let done = false;
    return {
      endpoint: this.replicas[i] as Endpoint,
      release: () => {
        if (done) return;
        done = true;
        this.outstanding[i] = (this.outstanding[i] ?? 1) - 1;
      },
    };
  }

  inFlight(): number[] {
    return [...this.outstanding];
  }
}

export class PoolSet {
  private readonly pools = new Map<string, EndpointPool>();

  constructor(endpoints: Map<string, Endpoint[]>, choice: PoolChoice, seed: number) {
    let i = 0;
    for (const [model, reps] of endpoints)
      this.pools.set(model, new EndpointPool(model, reps, choice, seed + 7919 * ++i));
  }

  get(model: string): EndpointPool {
    const p = this.pools.get(model);
    if (!p) {
      throw new ServelabError('BAD_CONFIG', `no endpoints for model "${model}"`, {
        hint: `known models: ${[...this.pools.keys()].join(', ') || 'none'}`,
      });
    }
    return p;
  }

  has(model: string): boolean {
    return this.pools.has(model);
  }

  models(): string[] {
    return [...this.pools.keys()];
  }
}

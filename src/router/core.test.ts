import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../sim/clock.js';
import { type Grant, RouterCore, type RouterCoreOptions } from './core.js';

/** A router on a virtual clock, 1 char = 1 token (charsPerToken 1), no decode reserve. */
function setup(o: Partial<RouterCoreOptions> & { backends: string[] }) {
  const clock = new VirtualClock(0);
  const core = new RouterCore({ clock, charsPerToken: 1, decodeReserveTokens: 0, ...o });
  const grants: { program: string; g: Grant }[] = [];
  const callOf = new Map<string, number>();
  const begin = (program: string, tokens: number) => {
    const id = core.beginCall(program, tokens, (g) => grants.push({ program, g }));
    callOf.set(program, id);
    return id;
  };
  const end = (program: string, usage?: { promptTokens: number; completionTokens: number }) =>
    core.endCall(callOf.get(program)!, usage);
  const state = (program: string) => core.programView(program);
  return { clock, core, grants, begin, end, state };
}

describe('RouterCore, tr mode: pause order', () => {
  it('pauses ACTING programs smallest first, only as many as the overflow needs', () => {
    const r = setup({ backends: ['A'] });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000 });
    for (const [p, n] of [
      ['p1', 300],
      ['p2', 200],
      ['p3', 100],
      ['p4', 250],
    ] as const)
      r.begin(p, n);
    expect(r.grants.map((g) => g.program)).toEqual(['p1', 'p2', 'p3', 'p4']); // 850 <= 1000
    r.end('p2');
    r.end('p3');
    // p1's call ends with usage: its context is now 300 + 400 = 700; needed 700+200+100+250 = 1250
    r.end('p1', { promptTokens: 300, completionTokens: 400 });
    expect(r.state('p1')).toMatchObject({ tokens: 700, tokensFrom: 'usage', status: 'acting' });
    r.core.tick();
    // overflow 250: p3 (100) then p2 (200) -> needed 950; p1 (700, ACTING) and p4 (REASONING) stay
    expect(r.state('p3')!.state).toBe('paused');
    expect(r.state('p2')!.state).toBe('paused');
    expect(r.state('p1')!.state).toBe('active');
    expect(r.state('p4')).toMatchObject({ state: 'active', markedForPause: false });
    expect(r.core.stats().backends[0]!.neededTokens).toBe(950);
  });

  it('then marks REASONING programs smallest first; they pause when their call ends', () => {
    const r = setup({ backends: ['A'] });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000 });
    r.begin('p1', 400);
    r.begin('p2', 300);
    r.begin('p3', 200);
    r.begin('p4', 50);
    r.end('p4'); // ACTING, 50
    // the backend now reports less room (e.g. restarted with fewer blocks): needed 950 > 800
    r.core.updateBackend('A', { healthy: true, capacityTokens: 800 });
    r.core.tick();
    // p4 (ACTING) paused: 900 > 800; then the smallest REASONING, p3 (200), marked: 700 <= 800
    expect(r.state('p4')!.state).toBe('paused');
    expect(r.state('p3')).toMatchObject({ state: 'active', markedForPause: true, status: 'reasoning' });
    expect(r.state('p2')!.markedForPause).toBe(false);
    expect(r.state('p1')!.markedForPause).toBe(false);
    expect(r.core.stats().backends[0]!.neededTokens).toBe(700);
    r.end('p3');
    expect(r.state('p3')).toMatchObject({ state: 'paused', markedForPause: false, status: 'acting' });
    expect(r.core.stats().pausesTotal).toBe(2);
  });
});

describe('RouterCore, tr mode: resume order', () => {
  /**
   * A (1000) and B (600): p1 400 -> A, p2 300 -> B, p3 200 -> B, p4 100 -> A (fewest needed
   * tokens with room). Capacities drop to 100 each: all four pause. p2 and p4 call again
   * (REASONING, paused), p5 is new (queued: programs are paused). Capacities become A 700, B 450.
   */
  function scenario(placement: 'best-fit' | 'most-room') {
    const r = setup({ backends: ['A', 'B'], placement });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000 });
    r.core.updateBackend('B', { healthy: true, capacityTokens: 600 });
    r.begin('p1', 400);
    r.begin('p2', 300);
    r.begin('p3', 200);
    r.begin('p4', 100);
    expect(r.grants.map((g) => `${g.program}@${g.g.backend}`)).toEqual(['p1@A', 'p2@B', 'p3@B', 'p4@A']);
    for (const p of ['p1', 'p2', 'p3', 'p4']) r.end(p);
    r.core.updateBackend('A', { healthy: true, capacityTokens: 100 });
    r.core.updateBackend('B', { healthy: true, capacityTokens: 100 });
    r.core.tick();
    for (const p of ['p1', 'p2', 'p3', 'p4']) expect(r.state(p)!.state).toBe('paused');
    r.grants.length = 0;
    r.clock.runUntil(1000);
    r.begin('p2', 300);
    r.begin('p4', 100);
    r.begin('p5', 250);
    expect(r.grants).toEqual([]);
    expect(r.state('p5')).toMatchObject({ state: 'paused', status: 'reasoning' });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 700 });
    r.core.updateBackend('B', { healthy: true, capacityTokens: 450 });
    r.clock.runUntil(3500);
    r.core.tick();
    return r;
  }

  it('selects reasoning, then new, then acting programs up to the total room, and packs best-fit decreasing', () => {
    const r = scenario('best-fit');
    // room 1150: p4 100, p2 300, p5 250, p3 200 (sum 850); p1 400 would make 1250: stays paused.
    // decreasing: p2 300 -> B (450 is the tightest fit), p5 250 -> A (B has 150), p3 200 -> A,
    // p4 100 -> B (150 < 250 left on A)
    expect(r.state('p1')!.state).toBe('paused');
    expect(r.state('p2')!.backend).toBe('B');
    expect(r.state('p5')!.backend).toBe('A');
    expect(r.state('p3')!.backend).toBe('A');
    expect(r.state('p4')!.backend).toBe('B');
    // waiting calls granted reasoning first (p4 smallest, p2), then the new program
    expect(r.grants.map((g) => `${g.program}@${g.g.backend}`)).toEqual(['p4@B', 'p2@B', 'p5@A']);
    // each waited from t=1000 to t=3500 at the router
    for (const g of r.grants) expect(g.g.queueMs).toBe(2500);
    expect(r.state('p2')).toMatchObject({ queueMsTotal: 2500, queuedCalls: 1, pauses: 1, resumes: 1 });
    expect(r.state('p3')!.migrations).toBe(1); // paused from B, resumed on A
    expect(r.state('p4')!.migrations).toBe(1);
    expect(r.state('p2')!.migrations).toBe(0);
  });

  it("ThunderAgent's public code instead puts each on the backend with the most room", () => {
    const r = scenario('most-room');
    // p2 -> A (700), p5 -> B (450 > 400), p3 -> A (400 > 200), p4: A 200 = B 200, origin A wins
    expect(r.state('p2')!.backend).toBe('A');
    expect(r.state('p5')!.backend).toBe('B');
    expect(r.state('p3')!.backend).toBe('A');
    expect(r.state('p4')!.backend).toBe('A');
    expect(r.state('p1')!.state).toBe('paused');
  });

  it('a new program waits while others are paused, and a backend with nothing placed takes one that does not fit', () => {
    const r = setup({ backends: ['A'] });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 100 });
    r.begin('big', 500); // nothing placed: would overflow; no program paused, but no room
    expect(r.state('big')!.state).toBe('paused');
    r.core.tick();
    expect(r.state('big')).toMatchObject({ state: 'active', backend: 'A' });
    expect(r.grants.map((g) => g.program)).toEqual(['big']);
  });
});

describe('RouterCore, kv-threshold mode (pause at >= 0.95, resume below 0.85)', () => {
  it('pauses by scraped usage with hysteresis and resumes below the low mark', () => {
    const r = setup({ backends: ['A'], mode: 'kv-threshold' });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000, kvUsageFrac: 0.5 });
    // room (0.85 - 0.5) x 1000 = 350: 100 + 50 + 200 fit
    r.begin('p1', 100);
    r.begin('p2', 50);
    r.begin('p3', 200);
    expect(r.grants.map((g) => g.program)).toEqual(['p1', 'p2', 'p3']);
    r.end('p1');
    r.end('p2');
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000, kvUsageFrac: 0.94 });
    r.core.tick();
    expect(r.core.stats().paused).toBe(0); // below 0.95: nothing paused
    r.begin('p4', 30); // at 0.94 >= 0.85 no new program is placed
    expect(r.state('p4')!.state).toBe('paused');
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000, kvUsageFrac: 0.96 });
    r.core.tick();
    // free (0.96 - 0.85) x 1000 = 110: ACTING smallest first, p2 (50) then p1 (100); p3 untouched
    expect(r.state('p2')!.state).toBe('paused');
    expect(r.state('p1')!.state).toBe('paused');
    expect(r.state('p3')).toMatchObject({ state: 'active', markedForPause: false });
    expect(r.core.stats().backends[0]!.hot).toBe(true);
    // 0.90: below the pause mark, not below the resume mark: still hot, nothing moves
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000, kvUsageFrac: 0.9 });
    r.core.tick();
    expect(r.core.stats()).toMatchObject({ paused: 3 });
    expect(r.core.stats().backends[0]!.hot).toBe(true);
    r.begin('p1', 100); // p1 calls again: waits, REASONING
    // 0.80: room 50. Candidates p1 (reasoning, 100), p4 (new, 30), p2 (acting, 50): only p4 fits
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000, kvUsageFrac: 0.8 });
    r.core.tick();
    expect(r.core.stats().backends[0]!.hot).toBe(false);
    expect(r.state('p4')!.state).toBe('active');
    expect(r.state('p1')!.state).toBe('paused');
    expect(r.state('p2')!.state).toBe('paused');
    // 0.50: room 350: p1 and p2 resume, p1's waiting call is sent
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000, kvUsageFrac: 0.5 });
    r.core.tick();
    expect(r.core.stats().paused).toBe(0);
    expect(r.grants.map((g) => g.program)).toEqual(['p1', 'p2', 'p3', 'p4', 'p1']);
  });
});

describe('RouterCore: release, unscheduled calls, the size estimate', () => {
  it('release frees the program: its room counts again and its waiting call is sent', () => {
    const r = setup({ backends: ['A'] });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 1000 });
    r.begin('p1', 600);
    r.end('p1');
    r.core.updateBackend('A', { healthy: true, capacityTokens: 500 });
    r.core.tick();
    expect(r.state('p1')!.state).toBe('paused');
    r.begin('p1', 600);
    expect(r.core.release('p1')).toBe(true);
    expect(r.state('p1')).toBeUndefined();
    expect(r.grants.at(-1)).toMatchObject({ program: 'p1', g: { backend: 'A' } });
    expect(r.core.release('p1')).toBe(false);
    r.begin('p2', 400);
    expect(r.state('p2')).toMatchObject({ state: 'active', backend: 'A' });
  });

  it('a call without program id is forwarded at once and holds nothing', () => {
    const r = setup({ backends: ['A', 'B'] });
    r.core.updateBackend('A', { healthy: true, capacityTokens: 10 });
    r.core.beginCall(undefined, 5000, (g) => r.grants.push({ program: '-', g }));
    expect(r.grants).toEqual([{ program: '-', g: { callId: 1, backend: 'A', queueMs: 0 } }]);
    expect(r.core.stats()).toMatchObject({ programs: 0, unscheduledCalls: 1 });
  });

  it('estimates from the body at 4 chars per token until a usage fits the ratio (0.2 new + 0.8 old)', () => {
    const clock = new VirtualClock(0);
    const core = new RouterCore({ clock, backends: ['A'], decodeReserveTokens: 0 });
    const id = core.beginCall('p', 4000, () => {});
    expect(core.programView('p')).toMatchObject({ tokens: 1000, tokensFrom: 'estimate' });
    core.endCall(id, { promptTokens: 800, completionTokens: 50 }); // 5 chars per token
    expect(core.programView('p')).toMatchObject({ tokens: 850, tokensFrom: 'usage' });
    const id2 = core.beginCall('p', 5000, () => {});
    expect(core.programView('p')!.tokens).toBe(1000); // 5000 / 5
    core.endCall(id2, { promptTokens: 2500, completionTokens: 0 }); // 2 chars per token
    core.beginCall('p', 4400, () => {});
    expect(core.programView('p')!.tokens).toBe(1000); // ratio 0.2 x 2 + 0.8 x 5 = 4.4
  });
});

import { describe, expect, it } from 'vitest';
import { startSimServers } from './index.js';

describe('real-time lag', () => {
  it('a blocked event loop puts the engine behind: counted on /metrics and warned at close', async () => {
    const warnings: string[] = [];
    const sim = await startSimServers({
      servers: [{ model: 'meta-llama/Llama-3.1-8B-Instruct', port: 0, stepTimeMs: 5 }],
      warn: (l) => warnings.push(l),
    });
    const url = sim.endpoints[0]!.url;
    try {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'meta-llama/Llama-3.1-8B-Instruct',
          messages: [{ role: 'user', content: 'hello' }],
          max_tokens: 2000, // 10 s of 5 ms steps: still streaming when the host stalls
          ignore_eos: true,
          stream: true,
        }),
      });
      const reader = res.body!.getReader();
      // wait for token chunks (the role chunk comes before the first engine step)
      const dec = new TextDecoder();
      let seen = '';
      while ((seen.match(/"content":"[^"]/g) ?? []).length < 3)
        seen += dec.decode((await reader.read()).value);
      const until = performance.now() + 250; // the host stalls for 250 ms (a GC pause, a busy core)
      while (performance.now() < until) {}
      for (let i = 0; i < 3; i++) await reader.read(); // the engine steps again after the stall
      await reader.cancel();
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const lag = Number(/servelab:sim_realtime_lag_seconds_total\{[^}]*\} (\S+)/.exec(metrics)?.[1]);
      // 250 ms late, of which 10 ms may be caught up
      expect(lag).toBeGreaterThan(0.2);
      expect(lag).toBeLessThan(1);
    } finally {
      await sim.close();
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /warning: 1 simulated server\(s\) fell behind their modelled step times \(worst: meta-llama\/Llama-3\.1-8B-Instruct replica 0, 0\.\d\d s in \d+ s\)/,
    );
  });
});

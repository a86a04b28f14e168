/**
 * Hot paths timed outside the test suite (timed unit tests measure their neighbours on a shared
 * machine): the Prometheus parser on a ~100 KB vLLM page (the sampler parses one per endpoint
 * per tick, down to every 100 ms) and the simulator's chat tokenizer on a 20k-token agent prompt
 * re-sent with one more message (every orchestrator call of a long task).
 *
 *   npx tsx bench/hot-paths.ts [--reps 200]
 *
 * Prints best and median per operation. Targets: parse < 2 ms, encode < 5 ms (best run).
 */
import { loadavg } from 'node:os';
import { parsePrometheusText } from '../src/metrics/parse.js';
import { bigVllmPage } from '../src/metrics/testing/pages.js';
import { encodeChat } from '../src/sim/tokenizer.js';

const i = process.argv.indexOf('--reps');
const reps = i > 0 ? Number(process.argv[i + 1]) : 200;

function time(label: string, targetMs: number, fn: () => void): void {
  for (let k = 0; k < 10; k++) fn(); // warm up the JIT
  const t: number[] = [];
  for (let k = 0; k < reps; k++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const best = t[0]!;
  const median = t[Math.floor(t.length / 2)]!;
  console.log(
    `${label}: best ${best.toFixed(3)} ms, median ${median.toFixed(3)} ms over ${reps} runs ` +
      `(target best < ${targetMs} ms: ${best < targetMs ? 'MET' : 'MISSED'})`,
  );
}

const page = bigVllmPage();
time(`parse a ${(page.length / 1024).toFixed(0)} KiB vLLM /metrics page`, 2, () => {
  if (!parsePrometheusText(page).ok) throw new Error('parse failed');
});

const big = 'alpha beta, gamma. '.repeat(5000);
const msgs = [
  { role: 'system', content: big },
  { role: 'user', content: 'go' },
];
const tokens = encodeChat(msgs).length;
let n = 0;
time(`encode a ${tokens.toLocaleString('en-US')}-token chat + 1 message`, 5, () => {
  encodeChat([...msgs, { role: 'tool', content: `result ${n++}` }]);
});
console.log(`load average ${loadavg()[0]!.toFixed(2)}, node ${process.version}`);

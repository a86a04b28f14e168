/**
 * Loading a spec as its size grows (issue 11: 10k keys took 1.7 s, 40k 14.5 s, 100k > 30 s,
 * because yaml's duplicate-key check compared each key with every earlier one). The spec is
 * the quickstart's shape with N keys in an arm's extraBody (valid), and again with N unknown
 * keys (every one an issue with its line:col).
 *
 *   npm run bench -- spec-load [--keys 10000,40000,100000]
 *
 * Prints the best of 3 loads per size; linear means the ms per 1k keys stays flat.
 */
import { loadavg } from 'node:os';
import { parseSpecText } from '../src/config/load.js';

const i = process.argv.indexOf('--keys');
const sizes = (i > 0 ? process.argv[i + 1]! : '10000,40000,100000').split(',').map(Number);

function specWith(n: number, asUnknownKeys: boolean): string {
  const indent = asUnknownKeys ? '    ' : '      ';
  const keys = Array.from({ length: n }, (_, k) => `${indent}k${k}: ${k}`).join('\n');
  return `name: big
servers:
  s:
    kind: external
    endpoints: {"m": [{"ip_addr": "127.0.0.1", "port": "1900"}]}
arms:
  - name: a
    servers: s
    extraBody:
${keys}
workload: {generator: {count: 4}}
agent: {orchestrator: m}
concurrency: [2]
`;
}

function best(text: string, expectOk: boolean, n: number): number {
  const t: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const res = parseSpecText(text);
    t.push(performance.now() - t0);
    if (res.ok !== expectOk) throw new Error(`unexpected result for ${n} keys`);
    // n unknown keys, and extraBody itself left empty
    if (!res.ok && res.issues.length !== n + 1)
      throw new Error(`expected ${n + 1} issues, got ${res.issues.length}`);
  }
  return Math.min(...t);
}

console.log(`node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}`);
for (const n of sizes) {
  const valid = best(specWith(n, false), true, n);
  const unknown = best(specWith(n, true), false, n);
  console.log(
    `${n.toLocaleString('en-US')} keys: valid ${valid.toFixed(0)} ms (${((valid / n) * 1000).toFixed(2)} ms/1k), ` +
      `${n.toLocaleString('en-US')} unknown keys ${unknown.toFixed(0)} ms (${((unknown / n) * 1000).toFixed(2)} ms/1k)`,
  );
}

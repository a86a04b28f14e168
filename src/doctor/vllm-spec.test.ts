/**
 * doctor on a spec whose servers are `kind: vllm`: the processes every config of the plan renders
 * to are checked like command recipes (speculative decoding budget, version, caches); a config
 * the renderer refuses (a compile-cache root under /tmp) is an error finding naming it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import type { Finding } from './findings.js';

const SPEC = `
name: doc-vllm
servers:
  glm:
    kind: vllm
    model: zai-org/GLM-4.6
    tensor_parallel_size: 8
    speculative_config: {method: eagle, model: foo/bar, num_speculative_tokens: 3}
arms: [{name: a, servers: glm}]
workload:
  requests: {dataset: random, num_prompts: 10}
rates: [1]
sweep: {mode: grid, params: {max_num_seqs: [8, 16]}}
`;

async function doctor(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-doctor-vllm-'));
  writeFileSync(join(dir, 'spec.yaml'), text);
  const { io, out, err } = captureIo({ cwd: dir, env: { HOME: '/home/ann', USER: 'ann' } });
  const code = await runMain(['doctor', 'spec.yaml', '--json'], io);
  return { code, err: err.join(''), json: JSON.parse(out.join('')) as { findings: Finding[] } };
}

describe('servelab doctor on kind: vllm servers', () => {
  it("checks every config's rendered argv and env: the spec-decode budget per config, at the spec's version", async () => {
    const r = await doctor(SPEC);
    expect(r.code, r.err).toBe(0);
    const f = r.json.findings.map((x) => `${x.severity} ${x.check} ${x.where}`);
    // the recipe is rendered for `version` (default 0.11.0): no "version not named" finding
    expect(f).toEqual([
      'warning spec-decode spec.yaml: servers.glm (cfg1) glm-8000',
      'warning spec-decode spec.yaml: servers.glm (cfg2) glm-8000',
    ]);
  });

  it("the spec's `version:` is the version whose pitfalls apply (0.12.0's broken tool parsers)", async () => {
    const r = await doctor(
      SPEC.replace(
        '    model: zai-org/GLM-4.6\n',
        '    model: zai-org/GLM-4.6\n    version: 0.12.0\n    tool_call_parser: glm45\n',
      ),
    );
    expect(r.code).toBe(1);
    const v = r.json.findings.filter((x) => x.check === 'vllm-version');
    expect(v.map((x) => x.severity)).toEqual(['error', 'error']);
    expect(v[0]?.message).toMatch(
      /vLLM 0\.12\.0 \(from servers\.glm\.version\).*\[vllm-0\.12\.0-tool-parsers\]/,
    );
  });

  it('a compile-cache root under /tmp is an error finding naming the key', async () => {
    const r = await doctor(
      SPEC.replace('    tensor_parallel_size: 8\n', '    tensor_parallel_size: 8\n    cache_root: /tmp/cc\n'),
    );
    expect(r.code).toBe(1);
    const e = r.json.findings.find((x) => x.severity === 'error');
    expect(e?.message).toMatch(/cache_root.*\/tmp/);
  });
});

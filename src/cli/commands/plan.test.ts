import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEEPSEEK_R1 } from '../../plan/testing/hf-configs.js';
import { runMain } from '../main.js';
import { captureIo } from '../testing/capture-io.js';

/** W5's plan (DeepSeek-R1 on H100-NVL, 128k context, FP8 KV), the model named by --model */
const w5 = (model = 'deepseek-ai/DeepSeek-R1') => [
  'plan',
  '--model',
  model,
  '--gpu',
  'H100-NVL',
  '--max-model-len',
  '131072',
  '--kv-cache-dtype',
  'fp8',
];
const W5 = w5();
const QUICK = [
  '--max-gpus',
  '16',
  '--random-input-len',
  '2048',
  '--random-output-len',
  '256',
  '--max-concurrency',
  '4',
  '--num-prompts',
  '8',
];

async function run(args: string[], cwd?: string) {
  const c = captureIo(cwd ? { cwd } : {});
  const code = await runMain(args, c.io);
  return { code, out: c.out.join(''), err: c.err.join('') };
}

describe('servelab plan (CLI)', () => {
  it("prints W5's table: one pod short of KV, two pods fit, the cheapest marked", async () => {
    const r = await run([...W5, ...QUICK]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /DeepSeek-R1: weights fp8 626\.6 GiB in all; KV cache fp8 35,136 B\/token \(MLA latent 576 x 61 layers\)/,
    );
    expect(r.out).toMatch(/^TP8 .* 42,768 .* no, 2\.89 GiB\/GPU short/m);
    expect(r.out).toMatch(/^TP16 .* 1,262,720 .* yes/m);
    expect(r.out).toMatch(/^TP8 x PP2 .* 2,400,896 .* yes/m);
    expect(r.out).toContain('<- cheapest');
    expect(r.out).toContain('$2.59/GPU-hour (RunPod Community Cloud');
  });

  it('--json carries every option; --price overrides the table', async () => {
    const r = await run([
      ...W5,
      ...QUICK,
      '--json',
      '--price',
      'H100-NVL=1.50/h',
      '--slo',
      'ttft:P99<600s,tpot:P99<1s',
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.options.map((o: { label: string }) => o.label)).toEqual(['TP8', 'TP16', 'TP8 x PP2']);
    expect(j.options[1].usdPerHour).toBeCloseTo(24, 9);
    expect(j.slo).toEqual({ ttftP99Ms: 600000, tpotP99Ms: 1000 });
    expect(j.best).not.toBeNull();
    expect(j.notes).toContain('H100-NVL-94GB: $1.5/GPU-hour (--price)');
  });

  it('reads the model from a Hugging Face config.json (the file or its directory), prices from a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-plan-'));
    const mdir = join(dir, 'DeepSeek-R1');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(mdir);
    writeFileSync(join(mdir, 'config.json'), JSON.stringify(DEEPSEEK_R1));
    writeFileSync(join(dir, 'prices.txt'), '# ours\nH100-NVL = 2.00 /h\n');
    const plan = (model: string) =>
      run([...w5(model), '--price-file', 'prices.txt', '--no-simulate', '--max-gpus', '16', '--json'], dir);
    const r = await plan('DeepSeek-R1');
    // a known name wins over a directory of that name
    expect(JSON.parse(r.out).model).toBe('DeepSeek-R1');
    const f = await plan(mdir);
    expect(f.err).toBe('');
    const j = JSON.parse(f.out);
    expect(j.model).toBe('DeepSeek-R1');
    expect(j.options[0].memory.kvBytesPerTokenPerGpu).toBe(35136);
    expect(j.options[1].usdPerHour).toBeCloseTo(32, 9);
    expect(j.options[1].sim).toBeUndefined();
  });

  const bad: [string, string[], RegExp, RegExp][] = [
    [
      'unknown model',
      ['--model', 'no-such-model'],
      /--model "no-such-model": unknown model and no such file/,
      /config\.json/,
    ],
    ['unknown GPU', ['--gpu', 'B9000'], /unknown GPU "B9000"/, /known GPUs: H100-SXM-80GB/],
    [
      'bad --price form',
      ['--price', 'H100-NVL'],
      /--price "H100-NVL" is not GPU=USD\/h/,
      /--price H100-NVL=2\.59\/h/,
    ],
    ['--price unknown GPU', ['--price', 'B9000=2/h'], /--price: unknown GPU "B9000"/, /known GPUs/],
    ['--price out of bounds', ['--price', 'H100-NVL=0/h'], /price 0 must be > 0 and <= 1000/, /GPU=USD/],
    ['bad --slo', ['--slo', 'ttft<2s'], /--slo "ttft<2s" is not metric:P99<Nms/, /ttft:P99<2000ms/],
    [
      'bad utilization',
      ['--gpu-memory-utilization', '1.5'],
      /--gpu-memory-utilization "1.5" is not a number > 0 and <= 1/,
      /./,
    ],
    ['bad --kv-cache-dtype', ['--kv-cache-dtype', 'int4'], /--kv-cache-dtype "int4" is not one of/, /./],
    ['rate and concurrency', ['--request-rate', '2', '--max-concurrency', '4'], /not both/, /closed loop/],
    [
      'TP not dividing heads',
      ['--tensor-parallel-size', '24'],
      /--tensor-parallel-size 24 does not divide DeepSeek-R1's 128 attention heads/,
      /power of two/,
    ],
  ];
  for (const [what, extra, msg, hint] of bad) {
    it(`bad input: ${what} -> exit 2 naming it and the fix`, async () => {
      const args = [...W5, '--no-simulate'];
      for (let i = 0; i < extra.length; i += 2) {
        const k = args.indexOf(extra[i]!);
        if (k >= 0) args.splice(k, 2);
        args.push(extra[i]!, extra[i + 1]!);
      }
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      if (hint.source !== '.') expect(r.err).toMatch(hint);
      expect(r.err).not.toMatch(/\n\s+at /);
    });
  }

  it('bad input: a malformed config.json -> exit 2 naming the file and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'servelab-plan-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...DEEPSEEK_R1, hidden_size: 'wide' }));
    const r = await run(['plan', '--model', join(dir, 'config.json'), '--gpu', 'H100-NVL', '--no-simulate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/config\.json: "hidden_size" must be an integer in \[1, 131072\], got "wide"/);
    expect(r.err).toMatch(/hint: pass the model's Hugging Face config\.json/);
    writeFileSync(join(dir, 'config.json'), '{"num_hidden_layers": 3,');
    const t = await run(['plan', '--model', dir, '--gpu', 'H100-NVL', '--no-simulate']);
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/config\.json: not valid JSON/);
  });
});

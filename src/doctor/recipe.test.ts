import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../cli/main.js';
import { captureIo } from '../cli/testing/capture-io.js';
import type { Finding } from './findings.js';
import { expandNodeList } from './nodes.js';
import { parseVllmServe } from './recipe.js';
import { parseScript } from './shell.js';

describe('reading recipes', () => {
  it('finds the vLLM version in a venv path, an image tag or a package pin, and none on PATH', () => {
    const v = (argv: string[]) => {
      const s = parseVllmServe(argv);
      return s && [s.version, s.versionFrom, s.model];
    };
    expect(v(['/opt/vllm-0.12.0/bin/vllm', 'serve', 'm'])).toEqual(['0.12.0', 'the executable path', 'm']);
    expect(
      v(['docker', 'run', '--gpus', 'all', 'vllm/vllm-openai:v0.11.0', '--model', 'openai/gpt-oss-20b']),
    ).toEqual(['0.11.0', 'the image tag', 'openai/gpt-oss-20b']);
    expect(v(['uvx', '--from', 'vllm==0.9.2', 'vllm', 'serve', 'q'])).toEqual([
      '0.9.2',
      'the package pin',
      'q',
    ]);
    expect(v(['vllm', 'serve', 'q', '--port', '1'])).toEqual([undefined, undefined, 'q']);
    expect(v(['python', '-m', 'vllm.entrypoints.openai.api_server', '--model=x'])).toEqual([
      undefined,
      undefined,
      'x',
    ]);
    expect(parseVllmServe(['python', '-m', 'thunderagent.proxy'])).toBeUndefined();
    const s = parseVllmServe([
      'vllm',
      'serve',
      'm',
      '--enable-auto-tool-choice',
      '--tool_call_parser=hermes',
      '--enforce-eager',
    ])!;
    expect([...s.flags]).toEqual([
      ['enable-auto-tool-choice', true],
      ['tool-call-parser', 'hermes'],
      ['enforce-eager', true],
    ]);
  });

  it('reads scripts: continuations, quotes, exports, per-command env, tee and redirections', () => {
    const p = parseScript(
      [
        '#!/bin/bash',
        '#SBATCH --exclude=gpu[03-04]',
        'PORT=1900',
        'export TORCHINDUCTOR_CACHE_DIR=$HOME/c/$PORT',
        'VLLM_CACHE_ROOT="/x/$PORT dir" vllm serve m \\',
        '  --speculative-config \'{"method": "eagle3"}\' 2>&1 | tee log.txt &',
        'vllm serve n > n.log 2>&1 && echo done # a comment',
        'vllm serve o 2>err.log',
      ].join('\n'),
    );
    expect(p.sbatch).toEqual(['--exclude=gpu[03-04]']);
    expect(p.commands.map((c) => [c.line, c.argv.join(' '), c.logged])).toEqual([
      [5, 'vllm serve m --speculative-config {"method": "eagle3"}', true],
      [5, 'tee log.txt', false],
      [7, 'vllm serve n', true],
      [7, 'echo done', false],
      [8, 'vllm serve o', false],
    ]);
    expect(p.commands[0]!.env).toEqual({
      TORCHINDUCTOR_CACHE_DIR: '$HOME/c/1900',
      VLLM_CACHE_ROOT: '/x/1900 dir',
    });
    expect(p.commands[4]!.env).toEqual({ TORCHINDUCTOR_CACHE_DIR: '$HOME/c/1900' });
    expect(p.commands[4]!.ownEnv).toEqual(['TORCHINDUCTOR_CACHE_DIR']);
  });

  it('expands SLURM host lists; an excluded bad node (from --bad-nodes-file) is not a finding', async () => {
    expect(expandNodeList('gpu[01-03,07],cpu5')).toEqual(['gpu01', 'gpu02', 'gpu03', 'gpu07', 'cpu5']);
    const dir = mkdtempSync(join(tmpdir(), 'doctor-nodes-'));
    writeFileSync(join(dir, 'bad.txt'), '# stale GPU memory, 2026-12-01\ngpu03\ngpu04 gpu09\n');
    writeFileSync(
      join(dir, 'job.sbatch'),
      '#SBATCH --exclude=gpu[03-04]\nsrun -x gpu09 vllm serve m > m.log 2>&1\n',
    );
    const { io, out } = captureIo({ cwd: dir });
    expect(await runMain(['doctor', 'job.sbatch', '--bad-nodes-file', 'bad.txt', '--json'], io)).toBe(0);
    const fs = (JSON.parse(out.join('')) as { findings: Finding[] }).findings;
    // the batch script itself may run on gpu09 (only srun excludes it): one warning
    expect(fs.filter((f) => f.check === 'stale-gpu-nodes').map((f) => f.message)).toEqual([
      '#SBATCH does not exclude the known-bad node(s) gpu09',
    ]);
  });
});

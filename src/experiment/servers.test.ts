import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ServersSpec, serversSchema } from '../config/spec.js';
import type { ExecFileFn } from '../preflight/gpu.js';
import { freePort } from '../testing/free-port.js';
import { gpuNotesBeforeLaunch, startServers } from './servers.js';

const SMI = `index, memory.used [MiB], memory.total [MiB], utilization.gpu [%]
0, 30512 MiB, 32607 MiB, 0 %
1, 3 MiB, 32607 MiB, 0 %
2, 80000 MiB, 81559 MiB, 97 %
`;
const fakeSmi: ExecFileFn = async (file) => {
  if (file !== 'nvidia-smi') throw new Error(`unexpected ${file}`);
  return { stdout: SMI, stderr: '' };
};
const noSmi: ExecFileFn = async () => {
  throw Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' });
};

describe('GPU memory held before command servers launch', () => {
  it('names the held GPUs the recipes will use (CUDA_VISIBLE_DEVICES), or all of them', async () => {
    expect(await gpuNotesBeforeLaunch([{ env: { CUDA_VISIBLE_DEVICES: '0' } }], fakeSmi)).toEqual([
      expect.stringMatching(/^before launch: GPU 0 already holds 30512 MiB of 32607 MiB/),
    ]);
    expect(await gpuNotesBeforeLaunch([{ env: { CUDA_VISIBLE_DEVICES: '1' } }], fakeSmi)).toEqual([]);
    const all = await gpuNotesBeforeLaunch([{ env: {} }], fakeSmi);
    expect(all.map((n) => /GPU (\d+)/.exec(n)?.[1])).toEqual(['0', '2']);
    expect(await gpuNotesBeforeLaunch([{}], noSmi)).toEqual([]);
    // one recipe pinned to GPU 1, another free to use any GPU: all are checked
    const mixed = await gpuNotesBeforeLaunch([{ env: { CUDA_VISIBLE_DEVICES: '1' } }, {}], fakeSmi);
    expect(mixed.map((n) => /GPU (\d+)/.exec(n)?.[1])).toEqual(['0', '2']);
    expect(
      (await gpuNotesBeforeLaunch([{ env: { CUDA_VISIBLE_DEVICES: '0,2' } }], fakeSmi)).map(
        (n) => /GPU (\d+)/.exec(n)?.[1],
      ),
    ).toEqual(['0', '2']);
  });

  it('startServers notes them for the cell before it spawns the recipe', async () => {
    const port = await freePort();
    const server = `require('node:http').createServer((q, r) => r.end('ok')).listen(${port}, '127.0.0.1')`;
    const spec: ServersSpec = serversSchema.parse({
      kind: 'command',
      healthTimeoutS: 20,
      processes: [
        {
          label: 'srv',
          argv: [process.execPath, '-e', server],
          env: { CUDA_VISIBLE_DEVICES: '2' },
          port,
        },
      ],
      endpoints: { m: [{ ip_addr: '127.0.0.1', port: String(port) }] },
    });
    const notes: string[] = [];
    const running = await startServers({
      spec,
      baseDir: process.cwd(),
      logsDir: mkdtempSync(join(tmpdir(), 'servelab-servers-')),
      env: {},
      seed: 1,
      execFile: fakeSmi,
      onNote: (n) => notes.push(n),
    });
    await running.stop();
    expect(notes).toEqual([expect.stringMatching(/^before launch: GPU 2 already holds 80000 MiB/)]);
  });
});

/**
 * Rendered sbatch scripts run under a REAL SLURM (scripts/slurm-up.sh: slurmctld, three slurmd
 * nodes sl1..sl3 on localhost, munge), submitted, polled and cancelled by slurm-jobs.ts:
 * - an `engine: sim` job starts `servelab sim` and runs a short `servelab bench` against it
 *   inside the job; the results land in the cell directory;
 * - cancel (abort -> scancel): the job ends CANCELLED and its server is gone;
 * - a failing job comes back with its log tail; a node with GPU memory in use (a stand-in
 *   nvidia-smi on that node) is named, and excluded on retry (`#SBATCH --exclude`);
 * - every value from the spec holding shell metacharacters: nothing is injected;
 * - multi-node Ray on three real slurmd nodes, with stand-in `ray` and `vllm` executables on
 *   PATH that record argv, environment and order.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServelabError } from '../errors.js';
import { freePort } from '../testing/free-port.js';
import { renderCellJob, SLURM_EVENTS_FILE, type SlurmCellJob } from './slurm.js';
import { jobStatus, parseScontrolLine, submitJob, waitJob } from './slurm-jobs.js';
import { REPO, SERVELAB_BIN, slurmForTests, slurmScratch, untilHealthy } from './testing/slurm-cluster.js';

const up = slurmForTests('the real-SLURM tests');
const { root, cacheRoot } = slurmScratch('servelab-slurm-');

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const SERVELAB = [process.execPath, SERVELAB_BIN];

function cell(name: string): { cellDir: string; logDir: string } {
  const d = join(root, name);
  return { cellDir: join(d, 'cell'), logDir: join(d, 'logs') };
}

async function submit(job: SlurmCellJob, args: string[] = []) {
  const r = renderCellJob(job);
  mkdirSync(job.logDir, { recursive: true });
  const script = join(job.logDir, '..', `${r.jobName}.sbatch`);
  writeFileSync(script, r.script);
  const output = join(job.logDir, `${r.jobName}-%j.out`);
  const id = await submitJob({ script, output, cwd: join(job.logDir, '..'), args });
  return { id, logPath: output.replace('%j', id), rendered: r };
}

function bin(dir: string, name: string, body: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

describe.skipIf(!up.ok)('sbatch scripts under a real SLURM', () => {
  it('an engine: sim job: servelab sim in the job, a short bench against it, results in the cell dir', async () => {
    const port = await freePort();
    const c = cell('sim');
    const { id, logPath, rendered } = await submit({
      cell: 'sim/c1',
      server: {
        engine: 'sim',
        model: MODEL,
        gpu: 'H100-SXM-80GB',
        max_model_len: 4096,
        all2all_backend: 'pplx',
        tool_call_parser: false,
      },
      port,
      ...c,
      cacheRoot,
      servelab: SERVELAB,
      bench: ['--num-prompts', '4', '--random-input-len', '16', '--random-output-len', '4'],
      healthTimeoutS: 60,
    });
    const states: string[] = [];
    const r = await waitJob(id, {
      pollMs: 200,
      logPath,
      cellDir: c.cellDir,
      onState: (s) => states.push(s.state),
      timeoutMs: 60_000,
    });
    expect(r.ok, `${r.state} ${r.logTail}`).toBe(true);
    expect(r.state).toBe('COMPLETED');
    expect(states.at(-1)).toBe('COMPLETED');
    expect(readdirSync(join(c.cellDir, 'bench')).length).toBeGreaterThan(0);
    expect(readFileSync(join(c.cellDir, 'not-modelled.txt'), 'utf8')).toBe('all2all_backend\n');
    const serverLog = readFileSync(join(c.logDir, `${rendered.jobName}-${port}.log`), 'utf8');
    expect(serverLog).toMatch(/not modelled \(accepted, no effect\): --all2all-backend pplx/);
    expect(readFileSync(logPath, 'utf8')).toMatch(/benchmark done/);
    // the process's own compile caches, per node and port, under the per-user root
    expect(readdirSync(cacheRoot).some((d) => d.endsWith(`-${port}`))).toBe(true);
  });

  it('a failing job is a failed result with its log tail', async () => {
    const c = cell('fail');
    const { id, logPath } = await submit({
      cell: 'fail',
      server: { engine: 'sim', model: 'no-such/model-xyz', tool_call_parser: false },
      port: await freePort(),
      ...c,
      cacheRoot,
      servelab: SERVELAB,
      healthTimeoutS: 60,
    });
    const r = await waitJob(id, { pollMs: 200, logPath, timeoutMs: 60_000 });
    expect(r.ok).toBe(false);
    expect(r.state).toBe('FAILED');
    expect(r.exitCode).toBe(1);
    expect(r.logTail).toMatch(/exited early/);
    expect(r.logTail).toMatch(/no-such\/model-xyz/);
  });

  it('cancel (abort): scancel, the job ends CANCELLED and its server is gone', async () => {
    const port = await freePort();
    const c = cell('cancel');
    const { id, logPath } = await submit({
      cell: 'cancel',
      server: { engine: 'sim', model: MODEL, max_model_len: 4096, tool_call_parser: false },
      port,
      ...c,
      cacheRoot,
      servelab: SERVELAB,
      // a bench that would run for many minutes
      bench: [
        '--num-prompts',
        '1000',
        '--request-rate',
        '0.5',
        '--random-input-len',
        '16',
        '--random-output-len',
        '4',
      ],
      healthTimeoutS: 60,
    });
    const ac = new AbortController();
    const healthy = untilHealthy(port);
    const done = waitJob(id, { pollMs: 200, logPath, signal: ac.signal, timeoutMs: 60_000 });
    await healthy;
    ac.abort();
    const r = await done;
    expect(r.cancelled).toBe(true);
    expect(r.ok).toBe(false);
    expect(r.state).toBe('CANCELLED');
    // nothing left running: the server's port stops answering
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = await fetch(`http://127.0.0.1:${port}/health`).then(
        () => false,
        () => true,
      );
      if (!gone) await new Promise((res) => setTimeout(res, 200));
    }
    expect(gone).toBe(true);
    expect((await jobStatus(id)).ended).toBe(true);
  });

  it('a node with GPU memory in use is named; the retry excludes it (#SBATCH --exclude)', async () => {
    const c = cell('busy');
    const stand = join(root, 'busy', 'bin');
    // nvidia-smi as on W4's "idle" node: sl1 has 20 GiB held on GPU 1
    bin(
      stand,
      'nvidia-smi',
      [
        'echo "index, memory.used [MiB]"',
        'if [ "$SLURMD_NODENAME" = sl1 ]; then echo "0, 3 MiB"; echo "1, 20480 MiB"; else echo "0, 3 MiB"; echo "1, 5 MiB"; fi',
      ].join('\n'),
    );
    const base: SlurmCellJob = {
      cell: 'busy',
      server: { engine: 'sim', model: MODEL, max_model_len: 4096, tool_call_parser: false },
      port: await freePort(),
      ...c,
      cacheRoot,
      servelab: SERVELAB,
      env: { PATH: `${stand}:${process.env.PATH}` },
      healthTimeoutS: 60,
    };
    const first = await submit(base, ['--nodelist=sl1']);
    const r1 = await waitJob(first.id, {
      pollMs: 200,
      logPath: first.logPath,
      cellDir: c.cellDir,
      timeoutMs: 60_000,
    });
    expect(r1.ok).toBe(false);
    expect(r1.exitCode).toBe(75);
    expect(r1.busyNodes).toEqual(['sl1']);
    expect(r1.logTail).toMatch(/node sl1 has GPU memory in use: GPU 1 holds 20480 MiB/);
    const retry = { ...base, exclude: r1.busyNodes! };
    rmSync(join(c.cellDir, 'busy-nodes.txt'));
    const second = await submit(retry);
    expect(second.rendered.script).toContain('#SBATCH --exclude=sl1\n');
    const r2 = await waitJob(second.id, {
      pollMs: 200,
      logPath: second.logPath,
      cellDir: c.cellDir,
      timeoutMs: 60_000,
    });
    expect(r2.ok, r2.logTail).toBe(true);
    expect(r2.nodes).not.toBe('sl1');
  });

  it('values with shell metacharacters everywhere: nothing is injected, every word arrives whole', async () => {
    const c = cell('quote $(touch PWN0) `x` \'q\' "d" ;&|');
    const pwn = join(root, 'PWNED');
    const inj = (n: number) =>
      `$(touch ${pwn}${n})\`touch ${pwn}${n}b\`';touch ${pwn}${n}c;'"; touch ${pwn}${n}d"`;
    const rec = join(root, 'quote-rec');
    mkdirSync(rec, { recursive: true });
    const stand = join(root, 'quote-bin');
    // a servelab that records its argv (one word per line) and runs the real simulator for `sim`
    bin(
      stand,
      'servelab',
      [
        `rec=${JSON.stringify(rec)}`,
        'printf "%s\\n" "$@" > "$rec/$1.argv"',
        'env | grep -E "^(NCCL_IB_HCA|TORCHINDUCTOR_CACHE_DIR|VLLM_CACHE_ROOT)=" | sort > "$rec/$1.env"',
        'if [ "$1" = sim ]; then',
        '  while [ $# -gt 0 ]; do [ "$1" = --port ] && port=$2; shift; done',
        `  exec ${JSON.stringify(process.execPath)} ${JSON.stringify(SERVELAB_BIN)} sim --model ${MODEL} --max-model-len 4096 --port "$port"`,
        'fi',
      ].join('\n'),
    );
    const port = await freePort();
    const job: SlurmCellJob = {
      cell: `q${inj(1)}`,
      server: {
        engine: 'sim',
        model: `m${inj(2)}`,
        served_model_name: `s${inj(3)}`,
        chat_template: `/t${inj(4)}`,
        tool_call_parser: `p${inj(5)}`,
        extra_args: [`--x=${inj(6)}`],
        env: { SOME_VAR: inj(7) },
      },
      port,
      ...c,
      cacheRoot: join(cacheRoot, `c ${inj(8)}`),
      servelab: [join(stand, 'servelab')],
      env: { NCCL_IB_HCA: `mlx5_0${inj(9)}` },
      bench: [`--label=${inj(10)}`, "it's"],
      healthTimeoutS: 60,
    };
    const { id, logPath } = await submit(job);
    const r = await waitJob(id, { pollMs: 200, logPath, cellDir: c.cellDir, timeoutMs: 60_000 });
    expect(r.ok, r.logTail).toBe(true);
    expect(readdirSync(root).filter((f) => f.startsWith('PWNED'))).toEqual([]);
    // the job's own start and end records (slurm-events.jsonl): the cell id arrives whole, as JSON
    const events = readFileSync(join(c.cellDir, SLURM_EVENTS_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events).toMatchObject([
      { v: 1, event: 'started', jobId: id, cell: job.cell, nodes: expect.stringMatching(/^sl\d$/) },
      { v: 1, event: 'ended', jobId: id, exitCode: 0 },
    ]);
    const sim = readFileSync(join(rec, 'sim.argv'), 'utf8').split('\n');
    expect(sim[2]).toBe(`m${inj(2)}`);
    expect(sim[sim.indexOf('--served-model-name') + 1]).toBe(`s${inj(3)}`);
    expect(sim[sim.indexOf('--chat-template') + 1]).toBe(`/t${inj(4)}`);
    expect(sim[sim.indexOf('--tool-call-parser') + 1]).toBe(`p${inj(5)}`);
    expect(sim).toContain(`--x=${inj(6)}`);
    const bench = readFileSync(join(rec, 'bench.argv'), 'utf8').split('\n');
    expect(bench[bench.indexOf('--model') + 1]).toBe(`s${inj(3)}`);
    expect(bench[bench.indexOf('--out') + 1]).toBe(join(c.cellDir, 'bench'));
    expect(bench.slice(-3, -1)).toEqual([`--label=${inj(10)}`, "it's"]);
    const env = readFileSync(join(rec, 'sim.env'), 'utf8');
    expect(env).toContain(`NCCL_IB_HCA=mlx5_0${inj(9)}\n`);
    expect(env).toContain(`TORCHINDUCTOR_CACHE_DIR=${join(cacheRoot, `c ${inj(8)}`)}/`);
    // #SBATCH values are refused rather than quoted (sbatch reads them without a shell)
    expect(() => renderCellJob({ ...job, exclude: ['sl1;touch x'] })).toThrow(ServelabError);
    expect(() => renderCellJob({ ...job, partition: 'a b' })).toThrow(/cannot go into an #SBATCH line/);
  });

  it('multi-node vLLM over Ray on three slurmd nodes, with stand-in ray and vllm', async () => {
    const c = cell('ray');
    const rec = join(root, 'ray-rec');
    mkdirSync(rec, { recursive: true });
    const stand = join(root, 'ray-bin');
    const log = `echo "$(date +%s%N) \${SLURMD_NODENAME:-?} $(basename "$0") $*" >> "$rec/order.log"`;
    bin(
      stand,
      'ray',
      [
        `rec=${JSON.stringify(rec)}`,
        log,
        'case "$1" in',
        '  start)',
        '    if [[ " $* " == *" --head "* ]]; then echo 1 > "$rec/nodes"; touch "$rec/head-up"',
        '    else',
        '      [ -e "$rec/head-up" ] || { echo "worker before head on $SLURMD_NODENAME" >> "$rec/errors"; exit 1; }',
        '      ( flock 9; echo $(( $(cat "$rec/nodes") + 1 )) > "$rec/nodes" ) 9>"$rec/lock"',
        '    fi',
        '    env | grep -E "^NCCL_" | sort > "$rec/env-$SLURMD_NODENAME"',
        '    exec sleep 600 ;;',
        '  status)',
        '    [ -e "$rec/head-up" ] || exit 1',
        '    echo "Resources"; echo " 0.0/$(( $(cat "$rec/nodes") * 2 )).0 GPU" ;;',
        'esac',
      ].join('\n'),
    );
    bin(
      stand,
      'vllm',
      [
        `rec=${JSON.stringify(rec)}`,
        log,
        'printf "%s\\n" "$@" > "$rec/vllm.argv"',
        'env | grep -E "^(VLLM_HOST_IP|RAY_ADDRESS|NCCL_IB_HCA|TORCHINDUCTOR_CACHE_DIR|VLLM_CACHE_ROOT)=" | sort > "$rec/vllm.env"',
        'while [ $# -gt 0 ]; do [ "$1" = --port ] && port=$2; shift; done',
        `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(SERVELAB_BIN)} sim --model ${MODEL} --max-model-len 4096 --port "$port"`,
      ].join('\n'),
    );
    const port = await freePort();
    const { id, logPath, rendered } = await submit({
      cell: 'ray',
      server: {
        model: 'zai-org/GLM-4.6',
        tensor_parallel_size: 2,
        pipeline_parallel_size: 3,
        tool_call_parser: false,
      },
      port,
      nodes: 3,
      gpusPerNode: 2,
      ...c,
      cacheRoot,
      servelab: SERVELAB,
      env: { PATH: `${stand}:${process.env.PATH}`, NCCL_IB_HCA: 'mlx5_0,mlx5_1', NCCL_SOCKET_IFNAME: 'lo' },
      healthTimeoutS: 60,
      rayWaitS: 30,
    });
    expect(rendered.script).toContain('#SBATCH --nodes=3\n');
    expect(rendered.script).toContain('#SBATCH --gpus-per-node=2\n');
    const r = await waitJob(id, { pollMs: 200, logPath, timeoutMs: 60_000 });
    expect(r.ok, r.logTail).toBe(true);
    expect(r.nodes).toBe('sl[1-3]');
    expect(existsSync(join(rec, 'errors'))).toBe(false);
    const order = readFileSync(join(rec, 'order.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(1))
      .filter((w) => w[2] !== 'status');
    // head first (on the first node), then one worker on each other node, vLLM last
    expect(order.map((w) => `${w[0]} ${w[1]} ${w[2]}`)).toEqual([
      'sl1 ray start',
      expect.stringMatching(/^sl[23] ray start$/),
      expect.stringMatching(/^sl[23] ray start$/),
      'sl1 vllm serve',
    ]);
    expect(new Set(order.slice(1, 3).map((w) => w[0]))).toEqual(new Set(['sl2', 'sl3']));
    expect(order[0]).toContain('--head');
    expect(order[0]).toContain('--port=6379');
    for (const w of order.slice(1, 3)) {
      expect(w).toContain('--address=127.0.0.1:6379');
      expect(w).toContain('--block');
    }
    const argv = readFileSync(join(rec, 'vllm.argv'), 'utf8').split('\n');
    const v = (f: string) => argv[argv.indexOf(f) + 1];
    expect(argv[0]).toBe('serve');
    expect(argv[1]).toBe('zai-org/GLM-4.6');
    expect(v('--distributed-executor-backend')).toBe('ray');
    expect(v('--tensor-parallel-size')).toBe('2');
    expect(v('--pipeline-parallel-size')).toBe('3');
    const venv = readFileSync(join(rec, 'vllm.env'), 'utf8');
    expect(venv).toContain('RAY_ADDRESS=127.0.0.1:6379\n');
    expect(venv).toContain('VLLM_HOST_IP=127.0.0.1\n');
    // the spec's NCCL settings reach every node's ray process
    for (const n of ['sl1', 'sl2', 'sl3'])
      expect(readFileSync(join(rec, `env-${n}`), 'utf8')).toContain('NCCL_IB_HCA=mlx5_0,mlx5_1\n');
  });
});

describe('slurm-jobs parsing', () => {
  it('scontrol -o lines: key=value pairs', () => {
    const f = parseScontrolLine(
      'JobId=7 JobName=servelab-x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=1:0 NodeList=sl2',
    );
    expect(f).toMatchObject({
      JobId: '7',
      JobState: 'FAILED',
      ExitCode: '1:0',
      NodeList: 'sl2',
      Reason: 'NonZeroExitCode',
    });
    expect(REPO.length).toBeGreaterThan(0);
  });
});

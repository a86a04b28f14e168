/**
 * Writes a synthetic agent run directory (docs/FORMATS.md) for tests and the scale benchmark:
 * C slots run tasks back to back; each task is a chain of orchestrator calls, each followed by
 * a tool, an expert call (with its own expert step record) or a user turn. Deterministic (LCG).
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepRecord, TaskRecord } from '../../agent/records.js';
import type { RequestRecord } from '../../loadgen/records.js';
import { summarize } from '../../loadgen/summary.js';

export interface SyntheticCellSpec {
  arm: string;
  concurrency: number;
  rep: number;
  tasks: number;
  /** orchestrator steps per task (mean) */
  stepsPerTask: number;
  /** KV plateau level for this arm */
  kvPlateau: number;
  status?: 'complete' | 'interrupted';
  failEvery?: number;
  version?: string;
  programFields?: string[];
  notes?: string[];
  /** write a truncated last line into steps.jsonl */
  truncateSteps?: boolean;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const T0 = 1_760_000_000_000;

export async function writeSyntheticCell(
  runDir: string,
  spec: SyntheticCellSpec,
): Promise<{ steps: number }> {
  const id = `${spec.arm}/c${spec.concurrency}/r${spec.rep}`;
  const dir = join(runDir, id);
  await mkdir(dir, { recursive: true });
  const rnd = lcg(
    spec.concurrency * 1000 + spec.rep * 17 + spec.arm.length * 7919 + Math.round(spec.kvPlateau * 100),
  );
  const stepsFh = await open(join(dir, 'steps.jsonl'), 'w');
  const tasks: TaskRecord[] = [];
  const slotFree = new Float64Array(spec.concurrency).fill(T0);
  let buf: string[] = [];
  let nSteps = 0;
  const flush = async () => {
    if (buf.length) await stepsFh.write(buf.join(''));
    buf = [];
  };
  for (let t = 0; t < spec.tasks; t++) {
    let slot = 0;
    for (let s = 1; s < spec.concurrency; s++) if (slotFree[s]! < slotFree[slot]!) slot = s;
    const startMs = slotFree[slot]! + rnd() * 50;
    let now = startMs;
    const taskId = `task-${t}`;
    const programId = `${spec.arm}-${spec.rep}-${t}`;
    const nStepsTask = Math.max(1, Math.round(spec.stepsPerTask * (0.5 + rnd())));
    let expertCalls = 0;
    let userCalls = 0;
    let toolCalls = 0;
    for (let k = 0; k < nStepsTask; k++) {
      const sent = now;
      const ttft = 50 + rnd() * 400 * (spec.concurrency / 32);
      const decode = 200 + rnd() * 1500;
      const r = rnd();
      const last = k === nStepsTask - 1;
      const nextType = last ? 'end' : r < 0.6 ? 'tool' : r < 0.8 ? 'expert' : 'user';
      const nextDur = last ? 0 : nextType === 'tool' ? 100 + rnd() * 900 : 1000 + rnd() * 4000;
      const rec: StepRecord = {
        v: 1,
        taskId,
        programId,
        domain: 'retail',
        step: k,
        kind: 'orchestrator',
        model: 'orchestrator-8b',
        endpoint: '127.0.0.1:1900',
        sentMs: sent,
        firstTokenMs: sent + ttft,
        endMs: sent + ttft + decode,
        status: 'ok',
        retries: 0,
        promptTokens: 2000 + k * 400,
        cachedTokens: 1800 + k * 350,
        outputTokens: 120,
        finishReason: 'tool_calls',
        next: { type: nextType, ...(nextType === 'tool' ? { name: 'get_order' } : {}), durationMs: nextDur },
      };
      buf.push(`${JSON.stringify(rec)}\n`);
      nSteps++;
      now = rec.endMs;
      if (nextType === 'expert' || nextType === 'user') {
        const call: StepRecord = {
          ...rec,
          kind: nextType,
          ...(nextType === 'expert'
            ? { expert: 'expert-1', model: 'openai/gpt-oss-20b', endpoint: '127.0.0.1:1910' }
            : { model: 'user-sim' }),
          sentMs: now + 5,
          firstTokenMs: now + 300,
          endMs: now + nextDur - 5,
          next: undefined,
        };
        buf.push(`${JSON.stringify(call)}\n`);
        nSteps++;
        if (nextType === 'expert') expertCalls++;
        else userCalls++;
      } else if (nextType === 'tool') toolCalls++;
      now += nextDur;
      if (buf.length >= 2000) await flush();
    }
    const failed = spec.failEvery ? t % spec.failEvery === spec.failEvery - 1 : false;
    tasks.push({
      v: 1,
      taskId,
      programId,
      domain: 'retail',
      status: failed ? 'failed' : 'ok',
      ...(failed ? { reason: 'max_steps' } : {}),
      steps: nStepsTask,
      expertCalls,
      userCalls,
      toolCalls,
      startMs,
      endMs: now,
      slot,
    });
    slotFree[slot] = now;
  }
  await flush();
  if (spec.truncateSteps) await stepsFh.write('{"v":1,"taskId":"cut","programId":"cut","kind":"orch');
  await stepsFh.close();
  tasks.sort((a, b) => a.endMs - b.endMs);
  await writeFile(join(dir, 'tasks.jsonl'), tasks.map((t) => `${JSON.stringify(t)}\n`).join(''));
  // KV: fraction of slots busy scaled to the arm's plateau, sampled every 5 s
  const end = Math.max(...tasks.map((t) => t.endMs));
  const lines = ['ts_iso,ts_unix,port,metric,value'];
  for (let ts = T0; ts <= end + 10_000; ts += 5000) {
    let busy = 0;
    for (const t of tasks) if (t.startMs <= ts && t.endMs >= ts) busy++;
    const v = Math.min(0.99, Math.max(0, (busy / spec.concurrency) * spec.kvPlateau + (rnd() - 0.5) * 0.04));
    lines.push(
      `${new Date(ts).toISOString()},${(ts / 1000).toFixed(3)},1900,vllm:kv_cache_usage_perc,${v.toFixed(4)}`,
    );
  }
  await writeFile(join(dir, 'kv_timeseries.csv'), `${lines.join('\n')}\n`);
  await writeFile(
    join(dir, 'cell.json'),
    JSON.stringify({
      v: 1,
      arm: spec.arm,
      concurrency: spec.concurrency,
      rep: spec.rep,
      seed: 7,
      status: spec.status ?? 'complete',
      startMs: T0,
      endMs: end,
      orchestratorPort: 1900,
      taskSet: { name: 'tau2-retail', count: spec.tasks, seed: 7 },
      servers: [
        {
          label: 'orchestrator',
          url: 'http://127.0.0.1:1900/v1',
          model: 'orchestrator-8b',
          version: spec.version ?? '0.11.0',
          flags: ['--enable-auto-tool-choice', '--tool-call-parser', 'hermes'],
        },
      ],
      programFields: spec.programFields ?? ['program_id', 'job_id', 'is_last_step', 'this_func_call'],
      notes: spec.notes ?? [],
    }),
  );
  return { steps: nSteps };
}

export async function writeSyntheticRun(
  runDir: string,
  cells: SyntheticCellSpec[],
): Promise<{ steps: number }> {
  await mkdir(runDir, { recursive: true });
  let steps = 0;
  for (const c of cells) steps += (await writeSyntheticCell(runDir, c)).steps;
  await writeFile(
    join(runDir, 'run.json'),
    JSON.stringify({
      v: 1,
      kind: 'agent',
      name: 'synthetic',
      createdAt: new Date(T0).toISOString(),
      servelabVersion: '0.1.0',
      cells: cells.map((c) => `${c.arm}/c${c.concurrency}/r${c.rep}`),
    }),
  );
  await writeFile(
    join(runDir, 'environment.json'),
    JSON.stringify({ servelabVersion: '0.1.0', node: 'v20' }),
  );
  return { steps };
}

/** A bench run dir with `n` requests at one rate and a config object (W3 sweeps). */
export async function writeSyntheticBench(
  runDir: string,
  opts: {
    n: number;
    ratePerSec: number;
    config: Record<string, unknown>;
    ttftBaseMs: number;
    tpotMs: number;
    seed: number;
  },
): Promise<void> {
  await mkdir(runDir, { recursive: true });
  const rnd = lcg(opts.seed);
  const lines: string[] = [];
  for (let i = 0; i < opts.n; i++) {
    const sentMs = T0 + (i / opts.ratePerSec) * 1000;
    const ttft = opts.ttftBaseMs * (0.5 + rnd());
    const out = 64;
    const offs = Array.from({ length: out }, (_, k) => Math.round((ttft + k * opts.tpotMs) * 1000) / 1000);
    lines.push(
      JSON.stringify({
        v: 1,
        i,
        warmup: false,
        stage: 0,
        endpoint: '127.0.0.1:8000',
        scheduledMs: sentMs,
        sentMs,
        firstTokenMs: sentMs + ttft,
        lastTokenMs: sentMs + offs[out - 1]!,
        endMs: sentMs + offs[out - 1]! + 1,
        status: 'ok',
        promptTokens: 512,
        outputTokens: out,
        tokenSource: 'usage',
        chunkOffsetsMs: offs,
      }),
    );
  }
  await writeFile(join(runDir, 'requests.jsonl'), `${lines.join('\n')}\n`);
  // the summary.json `servelab bench` writes at the end, from its own pure summary
  const arrivals = `poisson@${opts.ratePerSec.toFixed(2)}/s`;
  const summary = summarize(
    lines.map((l) => JSON.parse(l) as RequestRecord),
    { arrivals },
  );
  await writeFile(join(runDir, 'summary.json'), JSON.stringify(summary));
  await writeFile(
    join(runDir, 'run.json'),
    JSON.stringify({
      v: 1,
      kind: 'bench',
      name: runDir.split('/').pop(),
      createdAt: new Date(T0).toISOString(),
      servelabVersion: '0.1.0',
      args: ['--request-rate', String(opts.ratePerSec), '--num-prompts', String(opts.n)],
      config: opts.config,
    }),
  );
}

/**
 * `servelab bench --scenario ramp|grid|soak|slo`: which levels a scenario asks for, given the
 * bench's flags, through a `RunLevel` the caller gives (the CLI: experiment/bench-levels.ts,
 * every level a cell of the bench spec run by the one cell runner; tests and benchmarks in
 * virtual time: virtual.ts). The CLI parses the flags and writes the files.
 */
import { request } from 'undici';
import { ServelabError } from '../../errors.js';
import type { WorkloadItem } from '../../workload/item.js';
import type { ArrivalSpec } from '../arrivals.js';
import type { SloThreshold } from '../slo.js';
import type { ScenarioResult } from './format.js';
import { GRID_DEFAULT_OUTPUTS, GRID_DEFAULT_PROMPTS, runGrid } from './grid.js';
import type { RunLevel } from './level.js';
import { doublingLevels, rampRequests, runRamp } from './ramp.js';
import { runSloSearch } from './slo-search.js';
import { runSoak, SOAK_DEFAULTS, type SoakLoad, soakLoadFromRamp } from './soak.js';

export const SCENARIOS = ['ramp', 'grid', 'soak', 'slo'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioRunOptions {
  scenario: string;
  /** the bench's --seed (grid: its cells' prompts) */
  seed: number;
  /** the bench's arrival process from --request-rate / --max-concurrency (burst when neither) */
  arrivals: ArrivalSpec;
  maxConcurrency?: number;
  requestRate?: number;
  numPrompts?: number;
  durationMs?: number;
  /** ramp: --levels (closed loops or rates) */
  levels?: ArrivalSpec[];
  gridPrompts?: number[];
  gridOutputs?: number[];
  sliceMs?: number;
  kneeTolerance?: number;
  trendAlpha?: number;
  trendTolerance?: number;
  slo?: SloThreshold[];
  maxErrorShare: number;
  /** the prompts of level k, `count` of them */
  items: (k: number, count: number) => WorkloadItem[];
  signal?: AbortSignal;
  /** grid: the server's max_model_len (undefined: the server did not say) */
  maxModelLen?: () => Promise<number | undefined>;
  log: (line: string) => void;
}

/** The server's max_model_len from /v1/models (vLLM lists it), or undefined. */
export async function serverMaxModelLen(
  base: string,
  model: string,
  apiKey?: string,
): Promise<number | undefined> {
  try {
    const res = await request(`${base}/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const body = (await res.body.json()) as { data?: { id?: string; max_model_len?: number }[] };
    const m = body.data?.find((d) => d.id === model) ?? body.data?.[0];
    return typeof m?.max_model_len === 'number' ? m.max_model_len : undefined;
  } catch {
    return undefined;
  }
}

function bad(msg: string, hint: string): ServelabError {
  return new ServelabError('BAD_FLAG', msg, { hint });
}

/** The flags a scenario needs, checked before any server starts (exit 2 naming the flag). */
export function checkScenario(
  o: Pick<ScenarioRunOptions, 'scenario' | 'durationMs' | 'sliceMs' | 'slo'>,
): ScenarioName {
  if (!(SCENARIOS as readonly string[]).includes(o.scenario))
    throw bad(`--scenario "${o.scenario}" is not known`, `use one of ${SCENARIOS.join(', ')}`);
  if (o.scenario === 'soak') {
    if (o.durationMs === undefined)
      throw bad(
        '--scenario soak needs --duration',
        'e.g. --scenario soak --duration 3600 --max-concurrency 64',
      );
    const sliceMs = o.sliceMs ?? o.durationMs / SOAK_DEFAULTS.slices;
    if (o.durationMs / sliceMs < 6)
      throw bad(
        `--slice ${sliceMs / 1000} s gives ${Math.floor(o.durationMs / sliceMs)} slices of --duration ${o.durationMs / 1000} s`,
        'the trend test needs at least 6 slices (default: 20 slices of the duration)',
      );
  }
  if (o.scenario === 'slo' && !o.slo)
    throw bad('--scenario slo needs --slo', 'e.g. --scenario slo --slo ttft:P99<2000ms,tpot:P99<50ms');
  return o.scenario as ScenarioName;
}

/** Runs the scenario's levels through `run` (each level's records go out as they complete). */
export async function runScenario(run: RunLevel, o: ScenarioRunOptions): Promise<ScenarioResult> {
  const scenario = checkScenario(o);
  const signal = o.signal ? { signal: o.signal } : {};
  const slo = o.slo ? { slo: o.slo } : {};
  return dispatchScenario();

  async function dispatchScenario(): Promise<ScenarioResult> {
    switch (scenario) {
      case 'ramp': {
        const levels = o.levels ?? doublingLevels(o.maxConcurrency ?? 256);
        const per = o.numPrompts !== undefined ? () => o.numPrompts! : rampRequests(50);
        return runRamp(run, {
          levels,
          items: (k) => o.items(k, per(levels[k]!)),
          ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : { requests: per }),
          ...slo,
          maxErrorShare: o.maxErrorShare,
          knee: o.kneeTolerance !== undefined ? { tolerance: o.kneeTolerance } : {},
          ...signal,
        });
      }
      case 'grid': {
        const arrivals: ArrivalSpec =
          o.arrivals.kind === 'burst' && o.arrivals.maxConcurrency === undefined
            ? { kind: 'closed', concurrency: 8 }
            : o.arrivals;
        const maxModelLen = await o.maxModelLen?.();
        if (maxModelLen === undefined)
          o.log('the server did not say its max_model_len (/v1/models): no grid cell is skipped for length');
        return runGrid(run, {
          prompts: o.gridPrompts ?? GRID_DEFAULT_PROMPTS,
          outputs: o.gridOutputs ?? GRID_DEFAULT_OUTPUTS,
          ...(maxModelLen !== undefined ? { maxModelLen } : {}),
          arrivals,
          requestsPerCell: o.numPrompts ?? 32,
          seed: o.seed,
          ...slo,
          maxErrorShare: o.maxErrorShare,
          ...signal,
        });
      }
      case 'soak': {
        const durationMs = o.durationMs!;
        const sliceMs = o.sliceMs ?? durationMs / SOAK_DEFAULTS.slices;
        // no sustained load given: a quick closed-loop ramp first, then soak at 90 % of its knee
        let arrivals = o.arrivals;
        let load: SoakLoad | undefined;
        if (arrivals.kind === 'burst') {
          o.log(
            'soak: no --max-concurrency / --request-rate: a quick ramp first (c = 1, 2, 4 ... 256) to find the knee',
          );
          const levels = o.levels ?? doublingLevels(256);
          const per = rampRequests(20);
          const ramp = await runRamp(run, {
            levels,
            items: (k) => o.items(k, per(levels[k]!)),
            requests: per,
            maxErrorShare: o.maxErrorShare,
            knee: o.kneeTolerance !== undefined ? { tolerance: o.kneeTolerance } : {},
            ...signal,
          });
          load = soakLoadFromRamp(ramp);
          o.log(`soak: ${ramp.knee.reason}; soaking at ${load.why}`);
          arrivals = { kind: 'closed', concurrency: load.concurrency };
        }
        return runSoak(run, {
          arrivals,
          ...(load ? { load } : {}),
          // fresh prompts after the ramp's levels (the prefix cache does not answer the soak)
          items: o.items(load ? load.ramp.levels.length : 0, o.numPrompts ?? 1000),
          durationMs,
          sliceMs,
          ...(o.trendAlpha !== undefined ? { alpha: o.trendAlpha } : {}),
          ...(o.trendTolerance !== undefined ? { tolerance: o.trendTolerance } : {}),
        });
      }
      case 'slo': {
        const sloList = o.slo!;
        const byRate = o.requestRate !== undefined && Number.isFinite(o.requestRate);
        const per = o.numPrompts !== undefined ? () => o.numPrompts! : rampRequests(50);
        return runSloSearch(run, {
          over: byRate ? 'rate' : 'concurrency',
          start: byRate ? o.requestRate! : 1,
          max: byRate ? o.requestRate! * 1024 : (o.maxConcurrency ?? 1024),
          slo: sloList,
          maxErrorShare: o.maxErrorShare,
          items: (k, a) => o.items(k, per(a)),
          requests: per,
          ...(byRate && o.maxConcurrency !== undefined ? { maxConcurrency: o.maxConcurrency } : {}),
          ...signal,
        });
      }
    }
  }
}

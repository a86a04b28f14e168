/**
 * `servelab sim --router`: the program-aware router (src/router) in front of running
 * OpenAI-compatible servers (`--backends`, e.g. real vLLMs) or of simulated engines this command
 * starts (`--model ... --dp N`: N engines on free ports, the router on --port).
 */
import type { Command } from 'commander';
import { ServelabError } from '../../errors.js';
import { ROUTER_MODES, type RouterMode, type RouterServer, startRouter } from '../../router/index.js';
import type { Placement } from '../../router/placement.js';
import type { CliIO } from '../io.js';

export interface RouterFlags {
  router?: boolean;
  backends?: string;
  routerMode: string;
  routerInterval: string;
  routerPlacement: string;
  decodeReserve: string;
  kvPauseAt: string;
  kvResumeBelow: string;
}

export interface RouterPlan {
  /** running backends given with --backends; undefined: in front of the simulated engines */
  backends: string[] | undefined;
  mode: RouterMode;
  placement: Placement;
  intervalMs: number;
  decodeReserveTokens: number;
  kvPauseAtFrac: number;
  kvResumeBelowFrac: number;
}

function frac(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new ServelabError('BAD_FLAG', `${flag} "${v}" is not a fraction in (0, 1]`, {
      hint: `e.g. ${flag} 0.9 (vllm:kv_cache_usage_perc is a 0-1 fraction)`,
    });
  return n;
}

export function planRouter(
  f: RouterFlags,
  other: { model?: string; topology?: string },
): RouterPlan | undefined {
  if (!f.router) {
    if (f.backends !== undefined)
      throw new ServelabError('BAD_FLAG', '--backends needs --router', {
        hint: 'servelab sim --router --backends http://127.0.0.1:8001,http://127.0.0.1:8002 --port 8300',
      });
    return undefined;
  }
  if (!(ROUTER_MODES as readonly string[]).includes(f.routerMode))
    throw new ServelabError(
      'BAD_FLAG',
      `--router-mode "${f.routerMode}" is not one of ${ROUTER_MODES.join(', ')}`,
    );
  if (f.routerPlacement !== 'best-fit' && f.routerPlacement !== 'most-room')
    throw new ServelabError(
      'BAD_FLAG',
      `--router-placement "${f.routerPlacement}" is not best-fit or most-room`,
    );
  const intervalS = Number(f.routerInterval);
  if (f.routerInterval.trim() === '' || !Number.isFinite(intervalS) || intervalS < 0.01 || intervalS > 3600)
    throw new ServelabError(
      'BAD_FLAG',
      `--router-interval "${f.routerInterval}" is not seconds in [0.01, 3600]`,
    );
  const reserve = Number(f.decodeReserve);
  if (f.decodeReserve.trim() === '' || !Number.isInteger(reserve) || reserve < 0)
    throw new ServelabError(
      'BAD_FLAG',
      `--decode-reserve "${f.decodeReserve}" is not a whole number of tokens >= 0`,
    );
  const pauseAt = frac(f.kvPauseAt, '--kv-pause-at');
  const resumeBelow = frac(f.kvResumeBelow, '--kv-resume-below');
  if (resumeBelow > pauseAt)
    throw new ServelabError(
      'BAD_FLAG',
      `--kv-resume-below ${resumeBelow} is above --kv-pause-at ${pauseAt}`,
      {
        hint: 'the resume mark must not be above the pause mark (the users ran 0.95 / 0.85)',
      },
    );
  let backends: string[] | undefined;
  if (f.backends !== undefined) {
    if (other.model || other.topology)
      throw new ServelabError('BAD_FLAG', '--backends and --model/--topology exclude each other', {
        hint: '--backends puts the router in front of running servers; --model --dp N starts N simulated ones behind it',
      });
    backends = f.backends
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  } else if (other.topology) {
    throw new ServelabError('BAD_FLAG', '--router with --topology is not supported yet', {
      hint: 'start the topology with `servelab sim --topology`, then `servelab sim --router --backends <orchestrator urls>`',
    });
  } else if (!other.model) {
    throw new ServelabError('BAD_FLAG', '--router needs --backends <urls> or --model <name> (with --dp N)', {
      hint: 'e.g. servelab sim --router --model meta-llama/Llama-3.1-8B-Instruct --dp 2 --port 8300',
    });
  }
  return {
    backends,
    mode: f.routerMode as RouterMode,
    placement: f.routerPlacement,
    intervalMs: intervalS * 1000,
    decodeReserveTokens: reserve,
    kvPauseAtFrac: pauseAt,
    kvResumeBelowFrac: resumeBelow,
  };
}

export async function startPlannedRouter(
  plan: RouterPlan,
  backends: string[],
  where: { host: string; port: number },
  io: CliIO,
): Promise<RouterServer> {
  const r = await startRouter({
    backends,
    host: where.host,
    port: where.port,
    mode: plan.mode,
    placement: plan.placement,
    intervalMs: plan.intervalMs,
    decodeReserveTokens: plan.decodeReserveTokens,
    kvPauseAtFrac: plan.kvPauseAtFrac,
    kvResumeBelowFrac: plan.kvResumeBelowFrac,
    log: (line) => io.stderr(`${line}\n`),
  });
  io.stdout(`router\t${r.url}\n`);
  return r;
}

export function addRouterOptions(cmd: Command): Command {
  return cmd
    .option(
      '--router',
      'start the program-aware router (ThunderAgent-style) on --port, in front of --backends or of the --dp simulated engines',
    )
    .option('--backends <urls>', 'with --router: running OpenAI-compatible servers, comma-separated')
    .option('--router-mode <mode>', `router scheduling: ${ROUTER_MODES.join(' | ')}`, 'tr')
    .option('--router-interval <s>', 'seconds between /metrics scrapes + scheduling ticks', '5')
    .option('--router-placement <p>', 'where resumed programs go: best-fit | most-room', 'best-fit')
    .option(
      '--decode-reserve <tokens>',
      'tokens the router reserves per placed program for its decode',
      '256',
    )
    .option('--kv-pause-at <frac>', 'kv-threshold mode: pause at kv_cache_usage_perc >= this', '0.95')
    .option('--kv-resume-below <frac>', 'kv-threshold mode: resume below this', '0.85');
}

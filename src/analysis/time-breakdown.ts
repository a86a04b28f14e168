import type { StepTable } from './step-table.js';

export const ERROR_KIND_CONTEXT = 'context_length';

export interface TimeShare {
  /** number of contributing calls / actions */
  count: number;
  totalS: number;
  /** mean per orchestrator step */
  perStepS: number | null;
  /** share of the per-program critical path (orchestrator calls + what followed them) */
  share: number | null;
}

/**
 * Where a program's time goes: its orchestrator calls (queue + prefill to the first token,
 * then decode) and what followed each call (a tool, an expert call, a user turn). Expert and
 * user LLM call latencies are also given from their own records.
 */
export interface TimeBreakdown {
  orchestratorSteps: number;
  /** steps that streamed (have a first token): TTFT and decode apart */
  streamedSteps: number;
  /**
   * of the orchestrator calls' time, the part they waited at a program-aware router (paused
   * program, or no room yet) before being forwarded; inside orchestratorTtft / Unsplit, not beside
   */
  orchestratorRouterQueue: TimeShare;
  orchestratorTtft: TimeShare;
  orchestratorDecode: TimeShare;
  /** non-streamed orchestrator calls: the whole call, queue/prefill/decode not separable */
  orchestratorUnsplit: TimeShare;
  tool: TimeShare;
  expert: TimeShare;
  user: TimeShare;
  /** latency of the expert / user LLM calls themselves (from their step records) */
  expertCallLatencyS: { count: number; meanS: number | null };
  userCallLatencyS: { count: number; meanS: number | null };
}

export function timeBreakdown(steps: StepTable): TimeBreakdown {
  let nSteps = 0;
  let streamed = 0;
  const tot = { ttft: 0, decode: 0, unsplit: 0, tool: 0, expert: 0, user: 0 };
  const cnt = { ttft: 0, decode: 0, unsplit: 0, tool: 0, expert: 0, user: 0 };
  let expLat = 0;
  let expN = 0;
  let userLat = 0;
  let userN = 0;
  let rq = 0;
  let rqN = 0;
  for (let i = 0; i < steps.n; i++) {
    const k = steps.kind[i]!;
    const lat = steps.endMs[i]! - steps.sentMs[i]!;
    if (k === 1) {
      expLat += lat;
      expN++;
      continue;
    }
    if (k === 2) {
      userLat += lat;
      userN++;
      continue;
    }
    nSteps++;
    const q = steps.routerQueueMs?.[i] ?? 0;
    if (q > 0) {
      rq += q;
      rqN++;
    }
    const ft = steps.firstTokenMs[i]!;
    if (Number.isFinite(ft)) {
      streamed++;
      tot.ttft += ft - steps.sentMs[i]!;
      cnt.ttft++;
      tot.decode += steps.endMs[i]! - ft;
      cnt.decode++;
    } else {
      tot.unsplit += lat;
      cnt.unsplit++;
    }
    const nd = steps.nextDurationMs[i]!;
    if (Number.isFinite(nd)) {
      const nt = steps.nextType[i]!;
      if (nt === 1) {
        tot.tool += nd;
        cnt.tool++;
      } else if (nt === 2) {
        tot.expert += nd;
        cnt.expert++;
      } else if (nt === 3) {
        tot.user += nd;
        cnt.user++;
      }
    }
  }
  const sum = tot.ttft + tot.decode + tot.unsplit + tot.tool + tot.expert + tot.user;
  const share = (k: keyof typeof tot): TimeShare => ({
    count: cnt[k],
    totalS: tot[k] / 1000,
    perStepS: nSteps ? tot[k] / 1000 / nSteps : null,
    share: sum > 0 ? tot[k] / sum : null,
  });
  return {
    orchestratorSteps: nSteps,
    streamedSteps: streamed,
    orchestratorRouterQueue: {
      count: rqN,
      totalS: rq / 1000,
      perStepS: nSteps ? rq / 1000 / nSteps : null,
      share: sum > 0 ? rq / sum : null,
    },
    orchestratorTtft: share('ttft'),
    orchestratorDecode: share('decode'),
    orchestratorUnsplit: share('unsplit'),
    tool: share('tool'),
    expert: share('expert'),
    user: share('user'),
    expertCallLatencyS: { count: expN, meanS: expN ? expLat / 1000 / expN : null },
    userCallLatencyS: { count: userN, meanS: userN ? userLat / 1000 / userN : null },
  };
}

/**
 * tau2-bench role transitions, counted from our records: what the users' published "steps/s"
 * counted (their driver counted tau2's Orchestrator.step(), one per message passed between
 * agent, user and environment), named apart from steps (orchestrator LLM calls).
 * sierra-research/tau2-bench src/tau2/orchestrator/orchestrator.py: the user's opening message
 * is one step, every agent reply one, the environment's results of one reply's tool calls one,
 * every user reply one.
 */
import { KIND_CODES, NEXT_CODES, STATUS_CODES, type StepTable } from './step-table.js';

const ORCH = KIND_CODES.indexOf('orchestrator');
const OK = STATUS_CODES.indexOf('ok');
const TOOL = NEXT_CODES.indexOf('tool');
const EXPERT = NEXT_CODES.indexOf('expert');
const USER = NEXT_CODES.indexOf('user');

/**
 * Role transitions that ended in [lo, hi] (both ends inclusive, as COUNTING_RULE): each
 * program's opening user message at its first orchestrator call's send time; each ok
 * orchestrator call at its end; the tool / call_expert result or user reply after it at its
 * end + the tool or user time. Expert and user LLM call records add nothing of their own (the
 * turn they belong to is counted once, through the orchestrator call's `next`).
 */
export function roleTransitionsIn(steps: StepTable, lo: number, hi: number): number {
  const { kind, status, nextType, sentMs, endMs, nextDurationMs, program } = steps;
  const opening = new Float64Array(steps.programIds.length).fill(Number.POSITIVE_INFINITY);
  let n = 0;
  const inside = (t: number) => t >= lo && t <= hi;
  for (let i = 0; i < steps.n; i++) {
    if (kind[i] !== ORCH) continue;
    const p = program[i]!;
    if (sentMs[i]! < opening[p]!) opening[p] = sentMs[i]!;
    if (status[i] !== OK) continue;
    if (inside(endMs[i]!)) n++;
    const nt = nextType[i]!;
    const d = nextDurationMs[i]!;
    if ((nt === TOOL || nt === EXPERT || nt === USER) && Number.isFinite(d) && inside(endMs[i]! + d)) n++;
  }
  for (const t of opening) if (inside(t)) n++;
  return n;
}

/**
 * The `tau2-w1` workload profile: the tau2-like generator's parameters set to look like the
 * users' W1 runs (tau2-bench retail / telecom / airline driven by Nemotron-Orchestrator-8B with
 * three remote experts and a remote API model as the user simulator). Every parameter names
 * its source in TAU2_W1_SOURCES: a fact from WORKFLOWS.md / reference/agentic.md, a public
 * tau2-bench fact (sierra-research/tau2-bench), a figure derived from the users' published
 * table, or "fitted" (a guess to be calibrated against the published tasks/min).
 */
import { TAU2_TOOLS } from '../tau2-tools.js';
import type { WorkloadProfile } from './types.js';

export const TAU2_W1: WorkloadProfile = {
  name: 'tau2-w1',
  summary:
    "tau2-bench as in the users' W1 runs: ~23.5 orchestrator calls per task (~48 tau2 role transitions), <think> in every orchestrator answer, per-model expert lengths, a remote user simulator, in-process tools, history trimmed at ~23k tokens",
  domains: {
    retail: {
      tasks: 114,
      tools: TAU2_TOOLS.retail,
      systemPromptTokens: 3800,
      stepsPerTask: { median: 20, sigma: 0.45 },
      userTurns: { min: 2, max: 6 },
      userDelayMs: { median: 2500, sigma: 0.5 },
      toolLatencyMs: { median: 5, sigma: 0.5 },
      toolResultTokens: { median: 100, sigma: 0.6 },
      expertProb: 0.1,
      firstUserTokens: { median: 60, sigma: 0.5 },
    },
    telecom: {
      tasks: 114,
      tools: TAU2_TOOLS.telecom,
      systemPromptTokens: 7900,
      stepsPerTask: { median: 24, sigma: 0.5 },
      userTurns: { min: 3, max: 9 },
      userDelayMs: { median: 4000, sigma: 0.5 },
      toolLatencyMs: { median: 5, sigma: 0.5 },
      toolResultTokens: { median: 100, sigma: 0.6 },
      expertProb: 0.1,
      firstUserTokens: { median: 60, sigma: 0.5 },
    },
    airline: {
      tasks: 50,
      tools: TAU2_TOOLS.airline,
      systemPromptTokens: 4000,
      stepsPerTask: { median: 16, sigma: 0.5 },
      userTurns: { min: 2, max: 6 },
      userDelayMs: { median: 2500, sigma: 0.5 },
      toolLatencyMs: { median: 5, sigma: 0.5 },
      toolResultTokens: { median: 100, sigma: 0.6 },
      expertProb: 0.1,
      firstUserTokens: { median: 60, sigma: 0.5 },
    },
  },
  maxCallsPerTask: 99,
  orchestratorOutputTokens: {
    toolCall: { median: 80, sigma: 0.4 },
    message: { median: 120, sigma: 0.7 },
  },
  orchestratorMaxTokens: 8000,
  userMessageTokens: { median: 40, sigma: 0.6 },
  messageOverheadTokens: 10,
  expertOutputTokens: {
    'gpt-oss-20b': { median: 400, sigma: 0.7 },
    'Qwen3-32B-FP8': { median: 500, sigma: 0.6 },
    'Qwen3-Next-80B-A3B-Instruct-FP8': { median: 300, sigma: 0.6 },
  },
  expertFallback: 'Qwen3-Next-80B-A3B-Instruct-FP8',
  expertMaxTokens: 8000,
  expertByName: {
    'expert-1': 'gpt-oss-20b',
    'expert-2': 'Qwen3-32B-FP8',
    'expert-3': 'Qwen3-Next-80B-A3B-Instruct-FP8',
  },
  historyTrimTokens: 23_000,
};

const W1 = 'WORKFLOWS.md W1';
const AGENTIC = 'reference/agentic.md (the orchestrator in our users runs)';
const TAU2 = 'sierra-research/tau2-bench';
const FIT = 'fitted:';
/**
 * The calibration (docs/BENCHMARKS.md "W2 in virtual time", bench/w2-calibration.ts): with these
 * fitted values the baseline arm of examples/w2-sim-three-arms.yaml (plain vLLM on the simulated
 * RTX 5090, no time scaling) gives 3.85 / 3.89 / 3.88 tasks/min at C = 32 / 64 / 128 against the
 * published 3.36 / 3.52 / 3.51. Fitted: orchestratorOutputTokens (was 300 / 400), toolResultTokens
 * (was 350 / 250 / 500), expertProb (was 0.25), expertOutputTokens (was 900 / 1200 / 450).
 */
export const TAU2_W1_CALIBRATION =
  'baseline 3.85 / 3.89 / 3.88 tasks/min at C = 32 / 64 / 128 (published 3.36 / 3.52 / 3.51)';

/**
 * Where each parameter comes from, by its field name in TAU2_W1 (one entry covers a per-domain
 * field in every domain). A test checks that every parameter has an entry.
 */
export const TAU2_W1_SOURCES: Record<string, string> = {
  tasks: `${W1}: tau2-bench retail 114, telecom 114, airline 50 = 278 tasks (also ${TAU2} data/tau2/domains/*/tasks.json: 114 retail, 50 airline)`,
  tools: `${TAU2}: the agent tools of each domain (the orchestrator also gets call_expert, ${AGENTIC})`,
  systemPromptTokens: `${TAU2}: the agent policy of each domain at ~4 characters a token (retail policy.md 6,699 chars ~1,700; airline policy.md 7,676 ~1,900; telecom main_policy.md 5,699 + tech_support_manual.md 17,589 ~5,800, the default policy_type "manual"); ${FIT} + ~1,800 for 12 tool schemas and the call_expert schema, + ~300 for the <think>/<message>/<tool_call> instructions`,
  stepsPerTask: `derived from the users' published table (${W1}/W2): steps/s x 60 / tasks/min = 45-53 tau2 role transitions per task over the 9 cells (mean ~48); each orchestrator call brings 2 (its reply and the environment or user turn after it) plus the user's opening, so ~23.5 orchestrator calls per task overall (this profile's weighted mean: 23.5); ${FIT} the split across domains (telecom longest: dual-control troubleshooting; airline shortest)`,
  maxCallsPerTask: `${TAU2} src/tau2/config.py DEFAULT_MAX_STEPS = 200 (${AGENTIC}: max 200 steps per task), and tau2 counts role transitions, not LLM calls: 200 transitions = the opening + 2 x 99 orchestrator calls + 1`,
  userTurns: `${FIT} user replies after the opening message (tau2 user simulators answer each agent message that is not a tool call)`,
  userDelayMs: `the users' user simulator was a remote API model (issue 12; ${TAU2} config.py DEFAULT_LLM_USER = gpt-4.1), so a user turn is a latency, not a call to our servers; ${FIT} the value (a short reply from an API model: ~2.5 s; telecom 4 s: its users also run device tools in tau2's dual control before they answer)`,
  toolLatencyMs: `${TAU2} src/tau2/orchestrator/orchestrator.py: _execute_tool_calls runs environment.get_response in-process on the domain's in-memory database (no network); ${FIT} the 5 ms median (order of magnitude)`,
  toolResultTokens: `${FIT} (tau2 tools return JSON records of the domain database; airline flight searches are the largest)`,
  expertProb: `${FIT} the share of tool steps that are call_expert (${W1}: call_expert is one of the orchestrator's tools)`,
  firstUserTokens: `${FIT} the user simulator's opening message`,
  orchestratorOutputTokens: `${FIT} Nemotron-Orchestrator-8B answers with a <think> block before its <tool_call> or <message> (${AGENTIC}: the system prompt asks for <think>, <message>, <tool_call>; temperature 1); the <think> tokens are included`,
  orchestratorMaxTokens: `${AGENTIC}: max_tokens 8000`,
  userMessageTokens: `${FIT} a user simulator reply`,
  messageOverheadTokens: `${FIT} chat-template tokens per added message`,
  expertOutputTokens: `${FIT} per expert model, everything it generates (${W1} quirks: gpt-oss-20b's text is in message.reasoning and becomes the agent's message; Qwen3-32B-FP8 puts <think> into content unless told /no_think; Qwen3-Next-80B-A3B-Instruct has no thinking mode)`,
  expertFallback: `${FIT} the expert length used for a model this profile does not know`,
  expertMaxTokens: `${FIT} (the users' expert max_tokens is not published)`,
  expertByName: `${W1}: expert-1 = openai/gpt-oss-20b, expert-2 = Qwen/Qwen3-32B-FP8, expert-3 = Qwen/Qwen3-Next-80B-A3B-Instruct-FP8`,
  historyTrimTokens: `${AGENTIC}: history trimmed from the middle to ~23k tokens`,
};

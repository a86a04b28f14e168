import type { DistSpec } from '../../config/spec.js';
import type { DomainParams } from '../taskset.js';

/** A profile's domain: the generator's parameters plus the size of the program's head. */
export interface ProfileDomain extends DomainParams {
  /** system prompt + tool schemas of this domain's orchestrator, tokens */
  systemPromptTokens: number;
}

/**
 * A named preset of the tau2-like generator (`workload.generator.profile`): per-domain
 * parameters for the task draw, and the call sizes synthetic plans use. Distributions are
 * lognormal (median, sigma).
 */
export interface WorkloadProfile {
  name: string;
  summary: string;
  domains: Record<string, ProfileDomain>;
  /** orchestrator calls per task are drawn from stepsPerTask, clamped to 1..this */
  maxCallsPerTask: number;
  /** orchestrator output per call (reasoning included): before a tool or expert call, and a message to the user (or the last one) */
  orchestratorOutputTokens: { toolCall: DistSpec; message: DistSpec };
  orchestratorMaxTokens: number;
  /** a user simulator reply added to the history */
  userMessageTokens: DistSpec;
  /** chat-template tokens per added message */
  messageOverheadTokens: number;
  /** expert output per expert model (the key is matched against the expert's model id) */
  expertOutputTokens: Record<string, DistSpec>;
  /** the expertOutputTokens key for a model that matches none */
  expertFallback: string;
  expertMaxTokens: number;
  /** expert name -> expertOutputTokens key, when the expert's model is unknown to the plan */
  expertByName: Record<string, string>;
  /** the orchestrator's prompt is trimmed from the middle to about this many tokens */
  historyTrimTokens: number;
}

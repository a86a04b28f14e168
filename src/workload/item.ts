import type { ChatMessage } from '../loadgen/transport.js';

/** One request of a workload: what to send and how long an answer to force. */
export interface WorkloadItem {
  /** the prompt as plain text (the completions API, or the single user message of chat) */
  prompt: string;
  /** a full message list when the dataset has one (chat API); wins over prompt for chat */
  messages?: ChatMessage[];
  /** prompt length in tokens: exact for synthetic prompts, a word-count estimate otherwise */
  promptTokens: number;
  /** output tokens to request (max_tokens, and min_tokens / ignore_eos when forcing) */
  outputTokens: number;
  /** length class of a suite mix (short / medium / long) */
  class?: string;
  /** shared-prefix group */
  group?: number;
}

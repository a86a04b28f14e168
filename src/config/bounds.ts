/**
 * Upper bounds of every count, length, list and duration servelab accepts (spec, model-config,
 * flags). A value past them is a typo or a unit slip, and taking it exhausts the heap or turns
 * into a 1 ms timer, so it is refused with the field and the allowed range. docs/FORMATS.md
 * lists them ("Bounds").
 */
import { z } from 'zod';

export const BOUNDS = {
  /**
   * Every duration: 7 days. Node timers hold at most 2^31-1 ms (24.8 days); no call, task,
   * wait or measurement of a benchmark runs a week.
   */
  durationS: 7 * 24 * 3600,
  /** programs (or requests) in flight: a fleet of 64 vLLM servers at max_num_seqs 1024 is 65k */
  concurrency: 100_000,
  /** entries of a list (concurrency levels, ports, arms, processes, domains, metric names) */
  listLength: 1_000,
  repetitions: 1_000,
  /** cells of a run (arms x concurrency levels x repetitions) */
  cells: 10_000,
  /** tasks of a task set (generator count, a domain's tasks): 1M tasks are ~0.3 GB of plans */
  tasks: 1_000_000,
  /** token counts of one request or prompt: 10M is the longest context any model advertises */
  tokens: 10_000_000,
  /** prompt tokens a bench workload builds in memory (count x length): ~0.6 GB of text */
  workloadTokens: 100_000_000,
  /** prompts of a bench workload */
  prompts: 10_000_000,
  /** orchestrator calls per task */
  steps: 100_000,
  /** attempts of one call */
  attempts: 100,
  /** worker threads */
  workers: 256,
} as const;

const fmt = (n: number) => n.toLocaleString('en-US');

/** A duration in seconds, > 0 (or >= 0) and at most BOUNDS.durationS. */
export function durationS(opts: { zero?: boolean } = {}) {
  const base = opts.zero ? z.number().nonnegative() : z.number().positive();
  return base.max(BOUNDS.durationS, `at most ${fmt(BOUNDS.durationS)} s (7 days)`);
}

/** A duration in milliseconds, >= 0, at most BOUNDS.durationS. */
export function durationMs() {
  return z
    .number()
    .nonnegative()
    .max(BOUNDS.durationS * 1000, `at most ${fmt(BOUNDS.durationS * 1000)} ms (7 days)`);
}

/** An integer count in [min, max], the range stated in the message. */
export function count(min: number, max: number, what = '') {
  const range = `an integer ${fmt(min)}-${fmt(max)}${what ? ` (${what})` : ''}`;
  return z
    .number({ error: `expected ${range}` })
    .int(`expected ${range}`)
    .min(min, `expected ${range}`)
    .max(max, `expected ${range}`);
}

/** A token count in [min, BOUNDS.tokens]. */
export function tokens(min = 1) {
  return count(min, BOUNDS.tokens, 'tokens');
}

/** A list of at most BOUNDS.listLength entries. */
export function list<T extends z.ZodType>(item: T) {
  return z.array(item).max(BOUNDS.listLength, `at most ${fmt(BOUNDS.listLength)} entries`);
}

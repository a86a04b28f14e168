/** Build the engine's scheduling policy by name (`--scheduling-policy`). */
import { ServelabError } from '../../errors.js';
import { type ContinuumContext, type ContinuumOptions, createContinuumPolicy } from './continuum.js';
import { createFcfsPolicy } from './fcfs.js';
import { createPriorityPolicy } from './priority.js';
import { POLICY_NAMES, type PolicyName, type SchedulingPolicy } from './types.js';

export type { ContinuumOptions, ContinuumPolicy, SchedulerTimestamps } from './continuum.js';
export {
  parseBashBlock,
  parseHermesToolCall,
  resolveFuncCall,
  type ToolCallParser,
} from './tool-call-parse.js';
export { POLICY_NAMES, type PolicyName, type SchedulingPolicy, type WaitingQueue } from './types.js';

export function isPolicyName(s: string): s is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(s);
}

export function createPolicy(
  name: string,
  continuum: ContinuumOptions | undefined,
  ctx: ContinuumContext,
): SchedulingPolicy {
  switch (name) {
    case 'fcfs':
      return createFcfsPolicy();
    case 'priority':
      return createPriorityPolicy();
    case 'continuum':
      return createContinuumPolicy(continuum ?? {}, ctx);
    default:
      throw new ServelabError('BAD_CONFIG', `unknown scheduling policy '${name}'`, {
        hint: `use one of: ${POLICY_NAMES.join(', ')}`,
      });
  }
}

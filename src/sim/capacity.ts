/**
 * The KV-capacity math lives in `knowledge/capacity.ts` (the simulator and the planner both use
 * it); re-exported here for the simulator's modules.
 */
export {
  activationPeakGiB,
  type Capacity,
  type CapacityInput,
  computeCapacity,
  defaultBatchLimits,
  kvBytesPerTokenPerGpu,
  NON_TORCH_GIB,
} from '../knowledge/capacity.js';

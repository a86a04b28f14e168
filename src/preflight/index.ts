export {
  type CheckOptions,
  type CheckReport,
  checkEndpoints,
  checkOne,
  type EndpointReport,
  type EndpointSpec,
  type Problem,
  type ProblemCode,
  type StageName,
  type StageResult,
} from './check.js';
export { type ExecFileFn, type GpuReport, type GpuState, parseNvidiaSmiCsv, queryGpus } from './gpu.js';
export { type ModelConfig, type ModelConfigEndpoint, parseModelConfig } from './model-config.js';
export { renderCheckReport } from './render.js';
export { probeTcp, type TcpOutcome } from './tcp.js';

export {
  checkSpecFiles,
  formatIssues,
  type LoadedSpec,
  loadModelConfigFile,
  loadSpecFile,
  parseModelConfig,
  parseSpecText,
  type SpecIssue,
} from './load.js';
export { endpointsOf, type ModelConfig, modelConfigSchema } from './model-config.js';
export { redact, resolveSecret } from './secrets.js';
export {
  type AgentSpec,
  type ArmSpec,
  type DistSpec,
  type DomainOverride,
  describeSpec,
  type LimitsSpec,
  PROGRAM_FIELDS,
  type ProgramField,
  type ServersSpec,
  type Spec,
  specSchema,
  type WorkloadSpec,
} from './spec.js';

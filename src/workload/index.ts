export { exponential, gamma, intIn, mulberry32, type Rng, standardNormal, subSeed } from '../random.js';
export { loadJsonl, loadShareGpt } from './files.js';
export type { WorkloadItem } from './item.js';
export { describeLength, type LengthDist, parseLength, rangeRatio, sampleLength } from './lengths.js';
export { buildWorkload, type DatasetName, type Workload, type WorkloadOptions } from './source.js';
export { type DatasetStats, datasetStats, formatDatasetStats } from './stats.js';
export { DEFAULT_MIX, LENGTH_CLASSES, mixItems, SUITES, type SuiteName, suiteItems } from './suites.js';
export { type PrefixSpec, prefixItems, type SyntheticSpec, syntheticItems } from './synthetic.js';
export { countWords, randomWords, WORDS } from './words.js';

import { ServelabError } from '../errors.js';
import { loadJsonl, loadShareGpt } from './files.js';
import type { WorkloadItem } from './item.js';
import { describeLength, type LengthDist, parseLength, rangeRatio } from './lengths.js';
import { isSuite, SUITES, suiteItems } from './suites.js';
import { prefixItems, syntheticItems } from './synthetic.js';

export type DatasetName = 'random' | 'sharegpt' | 'jsonl' | 'prefix';

/** Everything `bench` and `dataset` accept about the workload (flag values, parsed). */
export interface WorkloadOptions {
  datasetName?: DatasetName;
  datasetPath?: string;
  suite?: string;
  /** number of prompts; default: the suite's count, the file's size, or 1000 */
  count?: number;
  seed: number;
  randomInputLen?: number;
  randomOutputLen?: number;
  randomRangeRatio?: number;
  /** length distributions that override the random-* trio, e.g. "lognormal:512,0.6" */
  inputDist?: string;
  outputDist?: string;
  prefixGroups?: number;
  promptsPerGroup?: number;
  prefixLen?: number;
  sharegptOutputLen?: number;
}

export interface Workload {
  items: WorkloadItem[];
  /** one line, e.g. "random input uniform:512-1536 output fixed:128 x1000 seed 0" */
  description: string;
}

const DATASETS: DatasetName[] = ['random', 'sharegpt', 'jsonl', 'prefix'];

function positive(v: number | undefined, flag: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1))
    throw new ServelabError('BAD_FLAG', `${flag} must be a positive integer (got ${v})`);
}

/** Builds the workload the options describe; every bad flag is a ServelabError naming it. */
export function buildWorkload(o: WorkloadOptions): Workload {
  const name = o.datasetName ?? (o.suite ? 'random' : o.datasetPath ? 'jsonl' : 'random');
  if (!DATASETS.includes(name))
    throw new ServelabError('BAD_FLAG', `--dataset-name "${name}" is not known`, {
      hint: `use one of ${DATASETS.join(', ')}`,
    });
  positive(o.count, '--num-prompts');
  positive(o.randomInputLen, '--random-input-len');
  positive(o.randomOutputLen, '--random-output-len');
  if (o.randomRangeRatio !== undefined && !(o.randomRangeRatio >= 0 && o.randomRangeRatio < 1))
    throw new ServelabError('BAD_FLAG', `--random-range-ratio must be in [0, 1) (got ${o.randomRangeRatio})`);
  const outLen = o.randomOutputLen ?? 128;
  const output: LengthDist = o.outputDist
    ? parseLength(o.outputDist, '--output-dist')
    : rangeRatio(outLen, o.randomRangeRatio ?? 0);
  if (o.suite !== undefined) {
    if (!isSuite(o.suite))
      throw new ServelabError('BAD_FLAG', `--suite "${o.suite}" is not known`, {
        hint: `use one of ${Object.keys(SUITES).join(', ')}`,
      });
    const items = suiteItems(o.suite, o.seed, o.count);
    return { items, description: `suite ${o.suite} x${items.length} seed ${o.seed}` };
  }
  if (name === 'sharegpt' || name === 'jsonl') {
    if (!o.datasetPath)
      throw new ServelabError('BAD_FLAG', `--dataset-name ${name} needs --dataset-path`, {
        hint:
          name === 'sharegpt'
            ? 'e.g. --dataset-path ShareGPT_V3_unfiltered_cleaned_split.json'
            : 'a JSONL of prompts or messages',
      });
    positive(o.sharegptOutputLen, '--sharegpt-output-len');
    const common = {
      seed: o.seed,
      ...(o.count !== undefined ? { count: o.count } : {}),
      ...(o.sharegptOutputLen !== undefined ? { outputTokens: o.sharegptOutputLen } : {}),
    };
    const items =
      name === 'sharegpt'
        ? loadShareGpt(o.datasetPath, common)
        : loadJsonl(o.datasetPath, { ...common, defaultOutputTokens: outLen });
    return { items, description: `${name} ${o.datasetPath} x${items.length} seed ${o.seed}` };
  }
  if (name === 'prefix') {
    positive(o.prefixGroups, '--prefix-groups');
    positive(o.promptsPerGroup, '--prompts-per-group');
    positive(o.prefixLen, '--prefix-len');
    const groups = o.prefixGroups ?? 10;
    const per = o.promptsPerGroup ?? (o.count !== undefined ? Math.ceil(o.count / groups) : 10);
    const prefixTokens = o.prefixLen ?? 1024;
    const suffix = o.inputDist
      ? parseLength(o.inputDist, '--input-dist')
      : rangeRatio(o.randomInputLen ?? 128, o.randomRangeRatio ?? 0);
    let items = prefixItems({ groups, promptsPerGroup: per, prefixTokens, suffix, output, seed: o.seed });
    if (o.count !== undefined) items = items.slice(0, o.count);
    return {
      items,
      description: `prefix ${groups} groups x ${per} prompts, prefix ${prefixTokens} + suffix ${describeLength(suffix)}, output ${describeLength(output)} seed ${o.seed}`,
    };
  }
  const input = o.inputDist
    ? parseLength(o.inputDist, '--input-dist')
    : rangeRatio(o.randomInputLen ?? 1024, o.randomRangeRatio ?? 0);
  const count = o.count ?? 1000;
  return {
    items: syntheticItems({ count, input, output, seed: o.seed }),
    description: `random input ${describeLength(input)} output ${describeLength(output)} x${count} seed ${o.seed}`,
  };
}

/**
 * The inverse of cli/commands/bench-spec.ts: a request cell (its `workload.requests` section and
 * its load level) as `servelab bench` flags, for the benchmark a SLURM job runs against its own
 * server (launch/slurm.ts). Every key of the section has its flag here; a test runs these flags
 * back through `bench --print-spec` and gets the same section, so a key added to the spec
 * without a flag fails there instead of being dropped inside the job.
 */
import { isAbsolute, resolve } from 'node:path';
import { secretsFromHeaders } from '../config/secrets.js';
import type { RequestsWorkloadSpec } from '../config/spec.js';
import { ServelabError } from '../errors.js';
import type { Cell } from './plan.js';

/** `servelab bench` flags that drive a cell's workload at its load level (after --base-url/--model/--out). */
export function benchArgsOf(
  cell: Cell,
  r: RequestsWorkloadSpec,
  baseDir: string,
  o: { serverMetrics?: boolean; metricsIntervalMs?: number } = {},
): string[] {
  const a: string[] = [];
  const opt = (flag: string, v: string | number | undefined) => {
    if (v !== undefined) a.push(flag, String(v));
  };
  if (r.suite) opt('--suite', r.suite);
  opt('--dataset-name', r.dataset);
  if (r.path) opt('--dataset-path', isAbsolute(r.path) ? r.path : resolve(baseDir, r.path));
  opt('--num-prompts', r.num_prompts);
  opt('--duration', r.duration_s);
  opt('--random-input-len', r.input_len);
  opt('--random-output-len', r.output_len);
  opt('--random-range-ratio', r.range_ratio);
  opt('--input-dist', r.input_dist);
  opt('--output-dist', r.output_dist);
  opt('--prefix-groups', r.prefix_groups);
  opt('--prompts-per-group', r.prompts_per_group);
  opt('--prefix-len', r.prefix_len);
  opt('--sharegpt-output-len', r.sharegpt_output_len);
  opt('--warmup', r.warmup);
  a.push('--backend', r.api === 'chat' ? 'openai-chat' : 'openai');
  if (!r.stream) a.push('--no-stream');
  if (r.ignore_eos) a.push('--ignore-eos');
  if (!(r.min_tokens ?? r.ignore_eos)) a.push('--no-min-tokens');
  opt('--temperature', r.temperature);
  if (r.extra_body) a.push('--extra-body', JSON.stringify(r.extra_body));
  for (const [name, value] of Object.entries(r.headers ?? {})) {
    // the script is a file on a shared filesystem: a secret travels by reference, never inline
    if (secretsFromHeaders({ [name]: value }).length > 0)
      throw new ServelabError(
        'BAD_CONFIG',
        `workload.requests.headers.${name}: a secret header cannot be written into a SLURM job script`,
        {
          hint: 'give the key as workload.requests.apiKey: {env: NAME} (the job inherits the environment) or {file: PATH}',
        },
      );
    a.push('--header', `${name}: ${value}`);
  }
  if (r.apiKey && 'env' in r.apiKey) a.push('--api-key-env', r.apiKey.env);
  if (r.apiKey && 'file' in r.apiKey)
    a.push('--api-key-file', isAbsolute(r.apiKey.file) ? r.apiKey.file : resolve(baseDir, r.apiKey.file));
  opt('--timeout', r.timeoutS);
  // 0 = no limit in bench's flags
  a.push('--first-byte-timeout', String(r.first_byte_timeout_s ?? 0));
  a.push('--idle-timeout', String(r.idle_timeout_s ?? 0));
  if (r.percentiles) a.push('--percentiles', r.percentiles.join(','));
  const g = r.goodput;
  if (g) {
    const slo = [
      ...(g.ttft_ms !== undefined ? [`ttft:${g.ttft_ms}`] : []),
      ...(g.tpot_ms !== undefined ? [`tpot:${g.tpot_ms}`] : []),
      ...(g.e2el_ms !== undefined ? [`e2el:${g.e2el_ms}`] : []),
    ];
    if (slo.length) a.push('--goodput', ...slo);
  }
  a.push('--workers', String(r.workers));
  a.push('--max-error-rate', String(r.max_error_rate));
  if (cell.load.kind === 'rate') {
    opt('--request-rate', cell.load.ratePerSec);
    opt('--burstiness', r.burstiness);
    if (r.arrivals === 'constant') a.push('--constant-rate');
    opt('--max-concurrency', r.max_concurrency);
  } else if (cell.load.kind === 'burst') {
    a.push('--request-rate', 'inf');
    opt('--max-concurrency', r.max_concurrency);
  } else {
    a.push('--request-rate', 'inf');
    opt('--max-concurrency', cell.load.concurrency);
  }
  // the cell's prompts (its level's own seed), as the cell would draw them on this machine
  opt('--seed', cell.promptSeed);
  if (o.serverMetrics === false) a.push('--no-server-metrics');
  if (o.metricsIntervalMs !== undefined) opt('--metrics-interval', o.metricsIntervalMs / 1000);
  a.push('--no-progress');
  return a;
}

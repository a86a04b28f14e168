/**
 * `servelab doctor`: reads specs, launch scripts, model-config JSON files and running servers,
 * and checks them against knowledge/ (WORKFLOWS.md W2, W4). Each input's kind comes from its
 * form: an http(s) URL, a .yaml/.yml spec, a .json model-config, a shell script (.sh, .bash,
 * .sbatch, .slurm, or a `#!` first line).
 */
import { readFileSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { loadModelConfigFile, loadSpecFile } from '../config/load.js';
import { modelConfigSchema } from '../config/model-config.js';
import { ServelabError } from '../errors.js';
import { parseModelConfig as parsePreflightModelConfig } from '../preflight/model-config.js';
import type { Finding } from './findings.js';
import { checkModelConfig, checkScript, checkSpec, type OfflineOptions, type ProbeTarget } from './inputs.js';
import { checkServers, type ServerOptions } from './servers.js';

export { doctorExitCode, type Finding, renderFindings, type Severity, sortFindings } from './findings.js';

export type InputKind = 'url' | 'spec' | 'model-config' | 'script';

export interface DoctorOptions extends OfflineOptions, ServerOptions {
  cwd: string;
  /** also probe the endpoints a spec or model-config names */
  probe?: boolean;
  /** the servers given as URLs make tool calls (default true: version pitfalls of tool parsing apply) */
  urlTools?: boolean;
}

export interface DoctorReport {
  inputs: { input: string; kind: InputKind; summary: string }[];
  findings: Finding[];
}

const SCRIPT_EXT = new Set(['.sh', '.bash', '.sbatch', '.slurm']);

function kindOf(input: string, path: string): InputKind {
  if (/^https?:\/\//i.test(input)) return 'url';
  let text: string;
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServelabError('BAD_FILE', `doctor: cannot read "${input}": ${(err as Error).message}`, {
      hint: 'give a spec (.yaml), a launch script (.sh), a model-config (.json) or a server URL (http://127.0.0.1:1900)',
    });
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'spec';
  if (ext === '.json') return 'model-config';
  if (SCRIPT_EXT.has(ext) || text.startsWith('#!')) return 'script';
  throw new ServelabError('BAD_FILE', `doctor: "${input}" is none of the kinds doctor reads`, {
    hint: 'a spec ends in .yaml/.yml, a model-config in .json, a launch script in .sh (or starts with #!); a server is an http:// URL. Sweeps are not built yet.',
  });
}

/** Runs every check on every input. Bad input throws ServelabError (exit 2); findings are data. */
export async function runDoctor(args: readonly string[], opts: DoctorOptions): Promise<DoctorReport> {
  if (args.length === 0)
    throw new ServelabError('BAD_FLAG', 'doctor: nothing to check', {
      hint: 'e.g. servelab doctor examples/w2-three-arms.yaml, servelab doctor launch.sh, servelab doctor http://127.0.0.1:1900',
    });
  const report: DoctorReport = { inputs: [], findings: [] };
  const urls: ProbeTarget[] = [];
  const probe: ProbeTarget[] = [];
  for (const input of args) {
    const path = resolve(opts.cwd, input);
    const kind = kindOf(input, path);
    if (kind === 'url') {
      urls.push({ url: input.replace(/\/+$/, '').replace(/\/v1$/, ''), tools: opts.urlTools ?? true });
      report.inputs.push({ input, kind, summary: 'a running server' });
      continue;
    }
    const r =
      kind === 'spec'
        ? checkSpec(input, loadSpecFile(path), opts, loadModelConfigFile)
        : kind === 'script'
          ? checkScript(input, readFileSync(path, 'utf8'), opts)
          : modelConfig(input, path, opts);
    report.inputs.push({ input, kind, summary: r.summary });
    report.findings.push(...r.findings);
    if (opts.probe) probe.push(...r.targets);
  }
  const targets = [...urls, ...probe];
  if (targets.length > 0) report.findings.push(...(await checkServers(targets, opts)));
  return report;
}

function modelConfig(input: string, path: string, opts: OfflineOptions) {
  const text = readFileSync(path, 'utf8');
  // the preflight's reader: JSON errors with line:col, every schema problem at once (exit 2)
  parsePreflightModelConfig(text, input);
  const cfg = modelConfigSchema.parse(JSON.parse(text));
  return checkModelConfig(input, cfg, opts.toolModels ?? []);
}

/**
 * `servelab doctor <spec | script | model-config | URL ...>`: the mistakes that cost our users
 * days (WORKFLOWS.md W2, W4), found before a run: each finding with its severity, why and fix.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { resolveApiKey } from '../../client/api-key.js';
import { secretsFromUrl } from '../../config/secrets.js';
import { doctorExitCode, renderFindings, runDoctor, sortFindings } from '../../doctor/index.js';
import { EXIT, ServelabError } from '../../errors.js';
import { parseDurationMs } from '../../preflight/flags.js';
import type { CommandContext } from './index.js';

interface DoctorFlags {
  json?: boolean;
  strict?: boolean;
  probe?: boolean;
  smoke?: boolean;
  tools: boolean;
  orchestrator?: string[];
  badNodes?: string[];
  badNodesFile?: string;
  timeout: string;
  apiKeyEnv: string;
  apiKeyFile?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function badNodes(f: DoctorFlags, cwd: string): string[] {
  const out = (f.badNodes ?? []).flatMap((v) => v.split(',')).map((s) => s.trim());
  if (f.badNodesFile) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, f.badNodesFile), 'utf8');
    } catch (err) {
      throw new ServelabError('BAD_FILE', `--bad-nodes-file ${f.badNodesFile}: ${(err as Error).message}`, {
        hint: 'a text file with one node name per line (# starts a comment)',
      });
    }
    for (const line of text.split('\n')) out.push(...line.replace(/#.*/, '').split(/[\s,]+/));
  }
  return [...new Set(out.filter(Boolean))];
}

const HELP_AFTER = `
Inputs (any number, any mix):
  spec.yaml        the spec's command recipes (argv arrays), arms and endpoints
  launch.sh        a launch script: its vllm serve lines, exports, logs, rm, srun/sbatch, ssh -L
  config.json      the users' model-config (model -> [{ip_addr, port}], oss_expert_mapping)
  http://host:port a running server: /health, /v1/models, /version, /metrics
  (parameter sweeps are not built yet, so there is no sweep input)

Checks: tool parser per model; vLLM versions with known breakage (from a venv path, an image
tag, a vllm==X pin, or /version); speculative-decoding pairs and --gpu-memory-utilization 0.85
with them; per-process TORCHINDUCTOR_CACHE_DIR and VLLM_CACHE_ROOT (unset, under /tmp, shared);
rm -rf /tmp/torchinductor_*; servers without a log file; arms on different versions or flags;
nodes known to hold stale GPU memory (--bad-nodes) not excluded.

Exit codes: 0 no error findings (warnings and info only; with --strict: no warnings either);
1 at least one error finding (with --strict: or a warning); 2 an input that cannot be read.`;

export function registerDoctor(program: Command, ctx: CommandContext): void {
  program
    .command('doctor')
    .description('check specs, launch scripts, model-configs and running servers against known pitfalls')
    .argument('<inputs...>', 'spec .yaml, launch script .sh, model-config .json, or server URL')
    .option('--json', 'the findings as JSON on stdout')
    .option('--strict', 'exit 1 on warnings too')
    .option('--probe', 'also probe the endpoints that specs and model-configs name (they must be up)')
    .option('--smoke', "with URLs / --probe: also make check's chat and tool-call completions")
    .option('--no-tools', 'the servers given as URLs make no tool calls (tool-parser pitfalls do not apply)')
    .option(
      '--orchestrator <model>',
      "a launch script's tool-calling model (repeatable; a spec names its own)",
      collect,
    )
    .option(
      '--bad-nodes <names>',
      'nodes known to hold stale GPU memory, comma-separated (repeatable)',
      collect,
    )
    .option('--bad-nodes-file <file>', 'the same, one node per line')
    .option('--timeout <dur>', 'timeout of each HTTP probe', '5s')
    .option('--api-key-env <name>', 'environment variable holding the API key', 'OPENAI_API_KEY')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .addHelpText('after', HELP_AFTER)
    .action(async (inputs: string[], f: DoctorFlags) => {
      const { io } = ctx;
      for (const u of inputs) if (/^https?:/i.test(u)) io.secrets?.addAll(secretsFromUrl(u));
      const apiKey = resolveApiKey(
        { envName: f.apiKeyEnv, ...(f.apiKeyFile ? { file: resolve(io.cwd, f.apiKeyFile) } : {}) },
        io.env,
      );
      io.secrets?.add(apiKey);
      const report = await runDoctor(inputs, {
        cwd: io.cwd,
        env: io.env,
        badNodes: badNodes(f, io.cwd),
        toolModels: f.orchestrator ?? [],
        probe: Boolean(f.probe),
        smoke: Boolean(f.smoke),
        urlTools: f.tools,
        httpTimeoutMs: parseDurationMs(f.timeout, '--timeout'),
        signal: io.signal,
        ...(apiKey ? { apiKey } : {}),
      });
      const code = doctorExitCode(report.findings, Boolean(f.strict));
      io.stdout(
        f.json
          ? `${JSON.stringify({ ...report, findings: sortFindings(report.findings), exitCode: code }, null, 2)}\n`
          : renderFindings(
              report.inputs.map((i) => `${i.input} (${i.kind}: ${i.summary})`),
              report.findings,
            ),
      );
      ctx.setExit(io.signal.aborted ? EXIT.interrupted : code);
    });
}

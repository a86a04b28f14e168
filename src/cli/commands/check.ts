/**
 * `servelab check`: is every endpoint ready for a run? Port listening (refused = tunnel not up
 * yet), /health, /v1/models, /version, one chat and one tool-call completion, quirks, version
 * pitfalls, GPU memory held. Exit 0 only when all are ready.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { resolveApiKey } from '../../client/api-key.js';
import { secretsFromHeaders, secretsFromUrl } from '../../config/secrets.js';
import { EXIT } from '../../errors.js';
import { endpointsFromFlags, parseDurationMs } from '../../preflight/flags.js';
import { checkEndpoints, renderCheckReport } from '../../preflight/index.js';
import { HEADER_SYNTAX, parseHeaders } from '../headers.js';
import type { CommandContext } from './index.js';

interface CheckFlags {
  url?: string[];
  config?: string;
  model?: string[];
  tools?: boolean;
  wait?: string;
  json?: boolean;
  smoke: boolean;
  gpu: boolean;
  timeout: string;
  header?: string[];
  apiKeyEnv: string;
  apiKeyFile?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function checkAction(urls: string[], f: CheckFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  for (const u of [...urls, ...(f.url ?? [])]) io.secrets?.addAll(secretsFromUrl(u));
  const { endpoints, notes } = endpointsFromFlags({ ...f, url: [...urls, ...(f.url ?? [])] }, io.cwd);
  if (!f.json) for (const n of notes) io.stderr(`note: ${n}\n`);
  const headers = parseHeaders(f.header);
  const httpTimeoutMs = parseDurationMs(f.timeout, '--timeout');
  const waitMs = f.wait ? parseDurationMs(f.wait, '--wait', { zero: true }) : 0;
  const apiKey = resolveApiKey(
    { envName: f.apiKeyEnv, ...(f.apiKeyFile ? { file: resolve(io.cwd, f.apiKeyFile) } : {}) },
    io.env,
  );
  // what servers answer is printed; a key they echo back is scrubbed from it (runMain's io)
  io.secrets?.add(apiKey);
  io.secrets?.addAll(secretsFromHeaders(headers));
  const rep = await checkEndpoints({
    ...(apiKey ? { apiKey } : {}),
    endpoints: endpoints.map((e) => ({
      url: e.url,
      label: e.label,
      ...(e.model ? { model: e.model } : {}),
      ...(e.tools ? { tools: true } : {}),
      ...(Object.keys(headers).length ? { headers } : {}),
    })),
    smoke: f.smoke,
    gpu: f.gpu,
    waitMs,
    httpTimeoutMs,
    connectTimeoutMs: Math.min(httpTimeoutMs, 3000),
    signal: io.signal,
    ...(f.json ? {} : { onProgress: (l: string) => io.stderr(`${new Date().toISOString()} ${l}\n`) }),
  });
  io.stdout(f.json ? `${JSON.stringify(rep, null, 2)}\n` : renderCheckReport(rep));
  if (io.signal.aborted) return EXIT.interrupted;
  return rep.ready ? EXIT.ok : EXIT.failed;
}

export function registerCheck(program: Command, ctx: CommandContext): void {
  program
    .command('check')
    .description(
      'preflight: are the endpoints listening, healthy, serving the right model, answering chat and tool calls?',
    )
    .argument('[urls...]', 'server URLs, e.g. http://127.0.0.1:1900')
    .option('--url <url>', 'a server URL (repeatable)', collect)
    .option('--config <file>', 'the model-config JSON (model -> [{ip_addr, port}], ports may be strings)')
    .option(
      '--model <name>',
      'the model the --url servers must serve; with --config only: check only this model (repeatable)',
      collect,
    )
    .option(
      '--tools',
      'also make one tool-call completion on every endpoint (with --config the orchestrator always does)',
    )
    .option(
      '--wait <dur>',
      'poll until every endpoint is ready or this long has passed (SSH tunnels take ~22 s)',
    )
    .option('--json', 'the full report as JSON on stdout')
    .option('--no-smoke', 'skip the chat / tool-call completions')
    .option('--no-gpu', 'skip nvidia-smi')
    .option('--timeout <dur>', 'timeout of each HTTP probe', '5s')
    .option(
      `--header <${HEADER_SYNTAX}>`,
      'extra header on the smoke calls (repeatable; "name: value" too)',
      collect,
    )
    .option('--api-key-env <name>', 'environment variable holding the API key', 'OPENAI_API_KEY')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .action(async (urls: string[], flags: CheckFlags) => {
      ctx.setExit(await checkAction(urls, flags, ctx));
    });
}

/**
 * What a launch recipe says about the server it starts: which process is a vLLM server, its
 * model, flags, version (from a venv path, an image tag or a pinned package), environment and
 * log. One shape for the spec's `command` recipes and the lines of a launch script.
 */
import { basename } from 'node:path';
import { parseScript, type SimpleCommand } from './shell.js';

/** One process a recipe starts. */
export interface ProcessRecipe {
  /** the input and the place in it, for findings */
  where: string;
  /** processes of one group run at the same time (one arm's servers, one script) */
  group: string;
  argv: string[];
  /** the environment it gets: the recipe's own variables over the inherited ones */
  env: Record<string, string | undefined>;
  /** variables the recipe sets itself (the rest are inherited from servelab's environment) */
  ownEnv: ReadonlySet<string>;
  /** its output goes to a log file (servelab writes one per recipe process) */
  logged: boolean;
  /** the version a spec declares for it (`kind: vllm`'s `version`), when its launcher names none */
  declaredVersion?: { version: string; from: string };
}

/** parseVllmServe of a recipe, its declared version standing in when the launcher names none. */
export function vllmServeOf(p: ProcessRecipe): VllmServe | undefined {
  const s = parseVllmServe(p.argv);
  if (s && !s.version && p.declaredVersion)
    return { ...s, version: p.declaredVersion.version, versionFrom: p.declaredVersion.from };
  return s;
}

export interface VllmServe {
  /** the tokens that start vLLM: `vllm`, `/opt/continuum/.venv/bin/vllm`, an image */
  launcher: string;
  model?: string;
  servedName?: string;
  version?: string;
  /** where the version was read: `the executable path`, `the image tag`, `the package pin` */
  versionFrom?: string;
  /** option name without dashes (underscores as dashes) -> value; `true` for a switch */
  flags: Map<string, string | true>;
}

/** vLLM switches that take no value (a token after them is the next argument). */
const SWITCHES = new Set([
  'enable-auto-tool-choice',
  'trust-remote-code',
  'enforce-eager',
  'enable-prefix-caching',
  'no-enable-prefix-caching',
  'enable-chunked-prefill',
  'no-enable-chunked-prefill',
  'disable-log-requests',
  'disable-log-stats',
  'enable-expert-parallel',
  'enable-eplb',
  'enable-prompt-tokens-details',
  'enable-force-include-usage',
  'async-scheduling',
  'headless',
]);

const VERSION = String.raw`v?(\d+\.\d+\.\d+(?:\.?(?:post|rc|dev)\d*)?)`;
const IMAGE = /(^|\/)vllm-openai(:|@|$)/;

function versionOf(launcher: string[]): { version: string; from: string } | undefined {
  for (const tok of launcher) {
    const image = IMAGE.test(tok) ? new RegExp(`:${VERSION}$`).exec(tok) : null;
    if (image) return { version: image[1]!, from: 'the image tag' };
    const pin = new RegExp(`^vllm==${VERSION}$`).exec(tok);
    if (pin) return { version: pin[1]!, from: 'the package pin' };
    const path = new RegExp(`vllm[-_]?${VERSION}`, 'i').exec(tok);
    if (path && tok.includes('/')) return { version: path[1]!, from: 'the executable path' };
  }
  return undefined;
}

/** The vLLM server a process runs, or undefined when it runs something else. */
export function parseVllmServe(argv: readonly string[]): VllmServe | undefined {
  let at = -1;
  let argsFrom = -1;
  for (let i = 0; i < argv.length && at < 0; i++) {
    const tok = argv[i]!;
    if (basename(tok) === 'vllm' && argv[i + 1] === 'serve') [at, argsFrom] = [i, i + 2];
    else if (tok === '-m' && argv[i + 1] === 'vllm.entrypoints.openai.api_server')
      [at, argsFrom] = [i + 1, i + 2];
    else if (IMAGE.test(tok)) [at, argsFrom] = [i, i + 1];
  }
  if (at < 0) return undefined;
  const launcherToks = argv.slice(0, at + 1);
  const args = argv.slice(argsFrom);
  const flags = new Map<string, string | true>();
  let model: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) {
      if (i === 0) model = a;
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq > 0 ? a.slice(0, eq) : a).replace(/^-+/, '').replaceAll('_', '-');
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (!SWITCHES.has(name) && i + 1 < args.length && !args[i + 1]!.startsWith('--'))
      flags.set(name, args[++i]!);
    else flags.set(name, true);
  }
  const m = flags.get('model');
  if (model === undefined && typeof m === 'string') model = m;
  const served = flags.get('served-model-name');
  const v = versionOf(launcherToks);
  return {
    launcher: launcherToks.filter((t) => t !== '-m').join(' '),
    ...(model !== undefined ? { model } : {}),
    ...(typeof served === 'string' ? { servedName: served } : {}),
    ...(v ? { version: v.version, versionFrom: v.from } : {}),
    flags,
  };
}

/** A flag's value as a string, or undefined (absent or a switch). */
export function flagValue(s: VllmServe, name: string): string | undefined {
  const v = s.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/**
 * The simple commands a spec process runs: itself, or the lines of `bash -c "..."` (a recipe
 * that wraps its server in a shell line, e.g. to clean a cache first).
 */
export function commandsOfArgv(argv: readonly string[]): { argv: string[]; env: Record<string, string> }[] {
  const sh = /(^|\/)(ba|z|da)?sh$/.test(argv[0] ?? '');
  const c = argv.indexOf('-c');
  if (sh && c > 0 && argv[c + 1] !== undefined)
    return parseScript(argv[c + 1]!).commands.map((x: SimpleCommand) => ({ argv: x.argv, env: x.env }));
  return [{ argv: [...argv], env: {} }];
}

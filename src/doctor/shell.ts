/**
 * Just enough of POSIX shell to read our users' launch scripts (`vllm serve ... 2>&1 | tee
 * log &`): continuation lines, quotes, `export` and per-command `NAME=value` assignments with
 * `$NAME` expansion of what the script itself set, `;` `&&` `||` `&` `|`, redirections, and
 * `#SBATCH` lines. Not a shell: loops and functions are read line by line, command
 * substitution is left as text.
 */

export interface SimpleCommand {
  /** 1-based line of the script where the command starts */
  line: number;
  argv: string[];
  /** the environment the command sees: the script's exports and its own assignments */
  env: Record<string, string>;
  /** names the script set (exported or for this command) */
  ownEnv: string[];
  /** stdout goes to a file (`>`, `>>`, `&>`) or into `tee FILE` */
  logged: boolean;
}

export interface ParsedScript {
  commands: SimpleCommand[];
  /** the options of `#SBATCH` lines, as argv */
  sbatch: string[];
}

type Tok = { t: 'word'; v: string } | { t: 'op'; v: string };

function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    return env[name] ?? m;
  });
}

/** Splits one logical line into words and operators, quotes removed, variables expanded. */
function tokenize(line: string, env: Record<string, string>): Tok[] {
  const out: Tok[] = [];
  let cur = '';
  let inWord = false;
  const push = () => {
    if (inWord) out.push({ t: 'word', v: cur });
    cur = '';
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, end < 0 ? line.length : end);
      inWord = true;
      i = end < 0 ? line.length : end;
    } else if (c === '"') {
      let j = i + 1;
      let buf = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) {
          buf += line[j + 1];
          j += 2;
        } else buf += line[j++];
      }
      cur += expand(buf, env);
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') push();
    else if (c === '#' && !inWord) break;
    else if (';&|<>'.includes(c)) {
      // a redirection with a file descriptor in front: 2>&1, 1>log
      if ((c === '>' || c === '<') && inWord && /^\d$/.test(cur)) {
        const fd = cur;
        cur = '';
        inWord = false;
        const m = /^(>>|>&|>|<)/.exec(line.slice(i))![0];
        out.push({ t: 'op', v: `${fd}${m}` });
        i += m.length - 1;
        continue;
      }
      push();
      const m = /^(&&|\|\||&>>|&>|>>|>&|;|&|\||>|<)/.exec(line.slice(i))![0];
      out.push({ t: 'op', v: m });
      i += m.length - 1;
    } else {
      // an unquoted $NAME expands here
      if (c === '$') {
        const m = /^\$\{(\w+)\}|^\$(\w+)/.exec(line.slice(i));
        if (m) {
          cur += expand(m[0], env);
          inWord = true;
          i += m[0].length - 1;
          continue;
        }
      }
      cur += c;
      inWord = true;
    }
  }
  push();
  return out;
}

const ASSIGN = /^([A-Za-z_]\w*)=(.*)$/s;
const REDIRECT_OUT = /^(\d?>>?|&>>?)$/;

/** Parses a script's text into its simple commands, in order. */
export function parseScript(text: string): ParsedScript {
  // vars: what $NAME expands to; exported: what child processes see
  const vars: Record<string, string> = {};
  const exported: Record<string, string> = {};
  const own = new Set<string>();
  const commands: SimpleCommand[] = [];
  const sbatch: string[] = [];
  const physical = text.split('\n');
  for (let i = 0; i < physical.length; i++) {
    const start = i + 1;
    let line = physical[i]!;
    while (line.endsWith('\\') && i + 1 < physical.length) line = `${line.slice(0, -1)} ${physical[++i]}`;
    const trimmed = line.trim();
    if (trimmed.startsWith('#SBATCH')) {
      sbatch.push(
        ...tokenize(trimmed.slice('#SBATCH'.length), vars).flatMap((t) => (t.t === 'word' ? [t.v] : [])),
      );
      continue;
    }
    if (trimmed.startsWith('#') || trimmed === '') continue;
    const toks = tokenize(line, vars);
    // split into pipelines on ; && || & and each pipeline into commands on |
    let segment: Tok[] = [];
    const pipeline: Tok[][] = [];
    const flushPipeline = () => {
      if (segment.length) pipeline.push(segment);
      segment = [];
      for (let k = 0; k < pipeline.length; k++) {
        const cmd = simple(pipeline[k]!, vars, exported, own, start);
        if (!cmd) continue;
        const next = pipeline[k + 1];
        const teeNext = next?.[0]?.t === 'word' && /(^|\/)tee$/.test(next[0].v) && next.length > 1;
        if (teeNext) cmd.logged = true;
        if (cmd.argv[0] === 'export') {
          for (const a of cmd.argv.slice(1)) {
            const m = ASSIGN.exec(a);
            if (m) {
              vars[m[1]!] = m[2]!;
              exported[m[1]!] = m[2]!;
              own.add(m[1]!);
            } else if (vars[a] !== undefined) {
              exported[a] = vars[a]!;
              own.add(a);
            }
          }
          continue;
        }
        commands.push(cmd);
      }
      pipeline.length = 0;
    };
    for (const t of toks) {
      if (t.t === 'op' && [';', '&&', '||', '&'].includes(t.v)) flushPipeline();
      else if (t.t === 'op' && t.v === '|') {
        pipeline.push(segment);
        segment = [];
      } else segment.push(t);
    }
    flushPipeline();
  }
  return { commands, sbatch };
}

function simple(
  toks: Tok[],
  vars: Record<string, string>,
  exported: Record<string, string>,
  own: Set<string>,
  line: number,
): SimpleCommand | undefined {
  const env = { ...exported };
  const ownEnv = new Set(own);
  const argv: string[] = [];
  let logged = false;
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.t === 'op') {
      if (REDIRECT_OUT.test(t.v) && !t.v.startsWith('2')) {
        const target = toks[k + 1];
        if (target?.t === 'word' && target.v !== '/dev/null') logged = true;
      }
      k++; // the redirection's target
      continue;
    }
    const m = argv.length === 0 ? ASSIGN.exec(t.v) : null;
    if (m) {
      env[m[1]!] = m[2]!;
      ownEnv.add(m[1]!);
    } else argv.push(t.v);
  }
  if (argv.length === 0) {
    // a bare assignment line sets a shell variable the later lines expand
    for (const t of toks) {
      const m = t.t === 'word' ? ASSIGN.exec(t.v) : null;
      if (m) vars[m[1]!] = m[2]!;
    }
    return undefined;
  }
  return { line, argv, env, ownEnv: [...ownEnv], logged };
}

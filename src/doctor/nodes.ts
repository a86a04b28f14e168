/**
 * Nodes known to hold stale GPU memory (a dead job's, W4) against the nodes a recipe uses: SLURM
 * node lists and exclusions (`srun`/`sbatch`/`salloc -w/-x`, `#SBATCH` lines), SSH forwards
 * (`ssh -L port:node:port`) and remote commands (`ssh node vllm serve ...`), endpoint hosts.
 */
import { type Finding, joinWhere } from './findings.js';

export interface NodeUse {
  where: string;
  node: string;
  /** how the recipe reaches it: `srun --nodelist`, `ssh -L`, `endpoint` */
  how: string;
}

/** One SLURM allocation a recipe asks for, and the nodes it excludes. */
export interface SlurmAsk {
  where: string;
  what: string;
  nodelist: string[];
  exclude: string[];
}

/** `node[01-03,07],gpu5` -> node01 node02 node03 node07 gpu5 (SLURM's host-list syntax). */
export function expandNodeList(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of text) {
    if (c === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
      continue;
    }
    if (c === '[') depth++;
    if (c === ']') depth--;
    cur += c;
  }
  parts.push(cur);
  return parts
    .filter((p) => p.trim() !== '')
    .flatMap((p) => {
      const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(p.trim());
      if (!m) return [p.trim()];
      const [, pre, body, post] = m as unknown as [string, string, string, string];
      return body.split(',').flatMap((r) => {
        const [a, b] = r.split('-');
        if (b === undefined) return [`${pre}${a}${post}`];
        const out: string[] = [];
        for (let i = Number(a); i <= Number(b) && out.length < 10_000; i++)
          out.push(`${pre}${String(i).padStart(a!.length, '0')}${post}`);
        return out;
      });
    });
}

const SSH_VALUE_OPTS = new Set('BbcDEeFIiJLlmOopQRSWw'.split(''));

function optValue(argv: readonly string[], i: number, long: string, short: string): string | undefined {
  const a = argv[i]!;
  if (a === `--${long}` || a === `-${short}`) return argv[i + 1];
  if (a.startsWith(`--${long}=`)) return a.slice(long.length + 3);
  if (a.startsWith(`-${short}`) && a.length > 2 && !a.startsWith('--')) return a.slice(2);
  return undefined;
}

/** The SLURM options of an argv (`srun ...`, `sbatch ...`, or `#SBATCH` options). */
export function slurmAsk(where: string, what: string, argv: readonly string[]): SlurmAsk {
  const nodelist: string[] = [];
  const exclude: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = optValue(argv, i, 'nodelist', 'w');
    if (w !== undefined) nodelist.push(...expandNodeList(w));
    const x = optValue(argv, i, 'exclude', 'x');
    if (x !== undefined) exclude.push(...expandNodeList(x));
  }
  return { where, what, nodelist, exclude };
}

/** What one command says about nodes: the SLURM allocation it asks for, the SSH nodes it uses. */
export function nodesOfCommand(
  where: string,
  argv: readonly string[],
): { uses: NodeUse[]; slurm: SlurmAsk[] } {
  const uses: NodeUse[] = [];
  const slurm: SlurmAsk[] = [];
  const cmd = argv[0]?.split('/').pop();
  if (cmd === 'srun' || cmd === 'sbatch' || cmd === 'salloc') {
    const ask = slurmAsk(where, cmd, argv.slice(1));
    slurm.push(ask);
    for (const n of ask.nodelist) uses.push({ where, node: n, how: `${cmd} --nodelist` });
  }
  if (cmd === 'ssh') {
    let dest: string | undefined;
    let i = 1;
    for (; i < argv.length; i++) {
      const a = argv[i]!;
      if (a.startsWith('-')) {
        const letter = a[a.length - 1]!;
        const value = a.length === 2 && SSH_VALUE_OPTS.has(letter) ? argv[++i] : undefined;
        const forward = a.startsWith('-L') ? (a.length > 2 ? a.slice(2) : value) : undefined;
        if (forward) {
          // [bind:]port:host:hostport
          const f = forward.split(':');
          const host = f.length >= 3 ? f[f.length - 2] : undefined;
          if (host && !/^(localhost|127\.0\.0\.1|\[?::1\]?)$/.test(host))
            uses.push({ where, node: host, how: 'ssh -L' });
        }
        continue;
      }
      dest = a;
      break;
    }
    // a destination with a command to run there is a node the server runs on
    if (dest && i + 1 < argv.length)
      uses.push({ where, node: dest.split('@').pop()!, how: 'ssh (remote command)' });
  }
  return { uses, slurm };
}

/** The findings: bad nodes used, SLURM asks that do not exclude them, or no list to check with. */
export function checkNodes(
  uses: readonly NodeUse[],
  slurm: readonly SlurmAsk[],
  badNodes: readonly string[],
): Finding[] {
  const out: Finding[] = [];
  const bad = new Set(badNodes);
  const why =
    'a node that looks idle can hold GPU memory from a dead job: a server started there runs out of memory or gets less KV cache than planned (W4)';
  if (bad.size === 0) {
    if (uses.length > 0 || slurm.length > 0)
      out.push({
        check: 'stale-gpu-nodes',
        severity: 'info',
        where: joinWhere([...uses, ...slurm].map((u) => u.where)),
        message: `the recipes run on cluster nodes (${[...new Set(uses.map((u) => u.node))].join(', ') || 'a SLURM allocation'}), and no list of nodes known to hold stale GPU memory was given`,
        why,
        fix: 'pass --bad-nodes node07,node12 (or --bad-nodes-file FILE); before launching, `nvidia-smi --query-gpu=index,memory.used --format=csv` on each node (servelab check does this where nvidia-smi exists)',
      });
    return out;
  }
  for (const u of uses)
    if (bad.has(u.node))
      out.push({
        check: 'stale-gpu-nodes',
        severity: 'error',
        where: u.where,
        message: `${u.node} (${u.how}) is on the list of nodes known to hold stale GPU memory`,
        why,
        fix: `run on another node, or free its GPUs first (nvidia-smi on ${u.node}) and take it off the list`,
      });
  for (const s of slurm) {
    if (s.nodelist.length > 0 && s.nodelist.every((n) => !bad.has(n))) continue;
    const missing = [...bad].filter((n) => !s.exclude.includes(n));
    if (missing.length > 0 && s.nodelist.length === 0)
      out.push({
        check: 'stale-gpu-nodes',
        severity: 'warning',
        where: s.where,
        message: `${s.what} does not exclude the known-bad node(s) ${missing.join(', ')}`,
        why: `SLURM may place the job on them; ${why}`,
        fix: `add --exclude=${[...bad].join(',')}${s.what === '#SBATCH' ? ' to the #SBATCH lines' : ''}`,
      });
  }
  return out;
}

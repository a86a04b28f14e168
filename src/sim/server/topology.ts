/**
 * Topology files: a whole set of simulated servers in one YAML (or JSON) file, e.g. the W1 set
 * (examples/w1-topology.yaml). Every problem is reported at once with line:col.
 *
 *   host: 127.0.0.1            # optional
 *   seed: 1                    # optional
 *   servers:
 *     - model: openai/gpt-oss-20b
 *       served_model_name: ... # optional
 *       persona: gpt-oss       # plain | orchestrator | gpt-oss | qwen3
 *       gpu: H100-SXM-80GB
 *       tp: 1
 *       dp: 4                  # replicas on consecutive ports
 *       port: 1910
 *       gpu_memory_utilization: 0.9
 *       max_model_len: 32768
 *       max_num_seqs: 256
 *       max_num_batched_tokens: 8192
 *       scheduling_policy: continuum  # fcfs (default) | priority | continuum (the Continuum fork)
 *       continuum:             # only with scheduling_policy: continuum
 *         parser: hermes       # hermes (the fork after 2026-01-13) | bash-only (before: pins nothing for hermes tool calls)
 *         ttl_rule: public     # public (2 s when the tool's mean time <= 2 s) | paper
 *         ttl_s: 2             # public rule: the pin length
 *         threshold_s: 2       # public rule: pin only when the tool's mean time is <= this
 *         eta: 1               # paper rule: weight of the queueing delay
 */
import { isMap, isNode, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { HOST_HINT, parseHost } from '../../host.js';
import { PERSONAS } from '../persona.js';
import type { ContinuumOptions } from '../policy/index.js';
import { POLICY_NAMES } from '../policy/index.js';
import type { SimServerSpec } from './index.js';

/** the continuum parser's names on the command line and in topology files */
export const CONTINUUM_PARSERS = { hermes: 'hermes', 'bash-only': 'bashOnly' } as const;
export const CONTINUUM_TTL_RULES = ['public', 'paper'] as const;

const continuumSchema = z
  .object({
    parser: z.enum(['hermes', 'bash-only']).optional(),
    ttl_rule: z.enum(CONTINUUM_TTL_RULES).optional(),
    ttl_s: z.number().min(0).max(86_400).optional(),
    threshold_s: z.number().min(0).max(86_400).optional(),
    eta: z.number().min(0).max(1_000_000).optional(),
  })
  .strict();

export function continuumOptionsOf(c: z.output<typeof continuumSchema>): ContinuumOptions {
  const o: ContinuumOptions = {};
  if (c.parser !== undefined) o.parser = CONTINUUM_PARSERS[c.parser];
  if (c.ttl_rule !== undefined) o.ttlRule = c.ttl_rule;
  if (c.ttl_s !== undefined) o.ttlS = c.ttl_s;
  if (c.threshold_s !== undefined) o.thresholdS = c.threshold_s;
  if (c.eta !== undefined) o.eta = c.eta;
  return o;
}

const serverSchema = z
  .object({
    name: z.string().optional(),
    model: z.string().min(1),
    served_model_name: z.string().min(1).optional(),
    persona: z.enum(PERSONAS).optional(),
    gpu: z.string().min(1).optional(),
    tp: z.number().int().min(1).optional(),
    dp: z.number().int().min(1).max(64).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    gpu_memory_utilization: z.number().gt(0).max(1).optional(),
    max_model_len: z.number().int().min(16).optional(),
    max_num_seqs: z.number().int().min(1).optional(),
    max_num_batched_tokens: z.number().int().min(1).optional(),
    scheduling_policy: z.enum(POLICY_NAMES as [string, ...string[]]).optional(),
    continuum: continuumSchema.optional(),
  })
  .strict()
  .refine((s) => s.continuum === undefined || s.scheduling_policy === 'continuum', {
    message: 'continuum settings need scheduling_policy: continuum on the same server',
    path: ['continuum'],
  });

const topologySchema = z
  .object({
    host: z
      .string()
      .min(1)
      .refine((h) => parseHost(h) !== undefined, { message: `not a host: give ${HOST_HINT}` })
      .optional(),
    seed: z.number().int().min(0).optional(),
    servers: z.array(serverSchema).min(1),
  })
  .strict();

export interface Topology {
  host?: string;
  seed?: number;
  servers: (SimServerSpec & { name?: string })[];
}

export interface TopologyIssue {
  line: number;
  col: number;
  path: string;
  message: string;
}

function nodeAt(root: unknown, path: readonly PropertyKey[]): Node | undefined {
  let cur: unknown = root;
  let best: Node | undefined = isNode(root) ? root : undefined;
  for (const key of path) {
    if (isMap(cur)) {
      const pair = cur.items.find(
        (p) => (isNode(p.key) ? (p.key as { value?: unknown }).value : p.key) === key,
      );
      if (!pair) break;
      cur = pair.value;
      best = isNode(pair.value) ? pair.value : isNode(pair.key) ? pair.key : best;
    } else if (isSeq(cur) && typeof key === 'number' && isNode(cur.items[key])) {
      cur = cur.items[key];
      best = cur as Node;
    } else break;
  }
  return best;
}

export function parseTopology(
  text: string,
): { ok: true; topology: Topology } | { ok: false; issues: TopologyIssue[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const p = lc.linePos(e.pos[0]);
        return { line: p.line, col: p.col, path: '', message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  const r = topologySchema.safeParse(doc.toJS());
  if (!r.success) {
    const issues = r.error.issues.map((i) => {
      const node = nodeAt(doc.contents, i.path as PropertyKey[]);
      const p = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
      const path = (i.path as PropertyKey[])
        .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
        .join('')
        .replace(/^\./, '');
      return { line: p.line, col: p.col, path, message: i.message };
    });
    return { ok: false, issues: issues.sort((a, b) => a.line - b.line || a.col - b.col) };
  }
  const t = r.data;
  const topology: Topology = {
    servers: t.servers.map((s) => ({
      name: s.name,
      model: s.model,
      servedModelName: s.served_model_name,
      persona: s.persona,
      gpu: s.gpu,
      tp: s.tp,
      dp: s.dp,
      port: s.port,
      gpuMemoryUtilization: s.gpu_memory_utilization,
      maxModelLen: s.max_model_len,
      maxNumSeqs: s.max_num_seqs,
      maxNumBatchedTokens: s.max_num_batched_tokens,
      ...(s.scheduling_policy !== undefined
        ? { schedulingPolicy: s.scheduling_policy as SimServerSpec['schedulingPolicy'] }
        : {}),
      ...(s.continuum !== undefined ? { continuum: continuumOptionsOf(s.continuum) } : {}),
    })),
  };
  if (t.host !== undefined) topology.host = parseHost(t.host) ?? t.host;
  if (t.seed !== undefined) topology.seed = t.seed;
  return { ok: true, topology };
}

/** Ports the topology asks for, each once; a clash is an issue (two replicas on one port). */
export function portClashes(t: Topology): string[] {
  const seen = new Map<number, string>();
  const out: string[] = [];
  t.servers.forEach((s, i) => {
    if (!s.port) return;
    for (let k = 0; k < (s.dp ?? 1); k++) {
      const port = s.port + k;
      const who = `servers[${i}] (${s.name ?? s.model}) replica ${k}`;
      const prev = seen.get(port);
      if (prev) out.push(`port ${port} is used by ${prev} and ${who}`);
      else seen.set(port, who);
    }
  });
  return out;
}

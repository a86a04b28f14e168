/**
 * The Ray part of a multi-node sbatch script (W3, W5): the head on the job's first node
 * (`ray start --head --port=6379`), then a worker on every other node through srun
 * (`ray start --address=HEAD:6379 --block`), then a wait until `ray status` shows every node's
 * GPUs, after which vLLM is started on the head with `--distributed-executor-backend ray` and
 * TP x PP spanning the nodes (slurm.ts). Bash text only; every value from a spec is quoted with
 * shell-quote.ts, the rest are numbers servelab checked.
 */
import { ServelabError } from '../errors.js';
import { shellQuote } from '../shell-quote.js';

export const RAY_PORT = 6379;

export interface RayOptions {
  nodes: number;
  gpusPerNode: number;
  /** seconds to wait for the head, then for every node's GPUs in `ray status` (default 300) */
  waitS?: number;
  /** argv[0] of ray (default `ray`) */
  ray?: string;
}

export function checkRay(o: RayOptions, where: string): void {
  for (const [k, v] of [
    ['nodes', o.nodes],
    ['gpus_per_node', o.gpusPerNode],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new ServelabError('BAD_CONFIG', `${where}: ${k} must be an integer >= 1, got ${v}`);
  }
  if (o.waitS !== undefined && !(Number.isInteger(o.waitS) && o.waitS > 0))
    throw new ServelabError('BAD_CONFIG', `${where}: ray wait must be a whole number of seconds > 0`);
}

/**
 * Bash lines that start the Ray cluster over the job's nodes and wait for it. Expects `nodes`
 * (an array of the job's host names, the head first), `LOG_DIR` and the `die` and `track`
 * functions of the script; leaves `head_ip` set. Every process is a child of the job (srun
 * steps in the background), so scancel ends them all.
 */
export function renderRayStart(o: RayOptions): string[] {
  const ray = shellQuote(o.ray ?? 'ray');
  const wait = o.waitS ?? 300;
  const total = o.nodes * o.gpusPerNode;
  return [
    '# --- Ray: head on the first node, a worker on every other node (srun), then wait for the GPUs',
    `[ "\${#nodes[@]}" -ge ${o.nodes} ] || die "the job has \${#nodes[@]} node(s), the recipe needs ${o.nodes}"`,
    'head_node=${nodes[0]}',
    'head_ip=$(srun --overlap --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address | awk \'{print $1}\')',
    '[ -n "$head_ip" ] || die "no IP address for the head node $head_node"',
    `echo "servelab-job: ray head on $head_node ($head_ip:${RAY_PORT})"`,
    `srun --overlap --nodes=1 --ntasks=1 -w "$head_node" ${ray} start --head --node-ip-address="$head_ip" --port=${RAY_PORT} --num-gpus=${o.gpusPerNode} --block >"$LOG_DIR/ray-head-$head_node.log" 2>&1 &`,
    'track $! "ray head on $head_node"',
    `deadline=$((SECONDS + ${wait}))`,
    `until ${ray} status --address="$head_ip:${RAY_PORT}" >/dev/null 2>&1; do`,
    `  [ "$SECONDS" -lt "$deadline" ] || die "the ray head did not answer within ${wait} s (log: $LOG_DIR/ray-head-$head_node.log)"`,
    '  check_tracked',
    '  sleep 1',
    'done',
    `for node in "\${nodes[@]:1:${o.nodes - 1}}"; do`,
    `  srun --overlap --nodes=1 --ntasks=1 -w "$node" ${ray} start --address="$head_ip:${RAY_PORT}" --num-gpus=${o.gpusPerNode} --block >"$LOG_DIR/ray-worker-$node.log" 2>&1 &`,
    '  track $! "ray worker on $node"',
    'done',
    `want_gpus=${total}`,
    'ray_gpus() {',
    `  ${ray} status --address="$head_ip:${RAY_PORT}" 2>/dev/null | grep -oE '[0-9.]+/[0-9.]+ GPU' | head -n 1 | sed -E 's|.*/([0-9.]+) GPU|\\1|' | cut -d. -f1`,
    '}',
    'until [ "$(ray_gpus)" = "$want_gpus" ]; do',
    `  [ "$SECONDS" -lt "$deadline" ] || die "ray status shows $(ray_gpus) of $want_gpus GPUs after ${wait} s (logs: $LOG_DIR/ray-*.log)"`,
    '  check_tracked',
    '  sleep 1',
    'done',
    `echo "servelab-job: ray cluster up: $want_gpus GPUs on ${o.nodes} node(s)"`,
  ];
}

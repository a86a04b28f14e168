/**
 * sbatch scripts for one cell (W3, W4): the servers of a vLLM recipe (launch/vllm-recipe.ts)
 * on one node (DP replicas with their GPUs, a log per port), or one vLLM over Ray on several
 * nodes (launch/ray.ts); a GPU check of every allocated node first (`nvidia-smi
 * --query-gpu=index,memory.used --format=csv` through srun: a node with memory in use is
 * reported by name in busy-nodes.txt and the job exits 75 so the submitter can exclude it),
 * the NCCL / IB environment of the spec, `--exclude` of known-bad nodes, the benchmark run from
 * inside the job against the job's own server, its results in the cell's directory of the
 * shared run directory.
 *
 * Every value that came from a spec is quoted (shell-quote.ts) in the script body; values that
 * go into `#SBATCH` directives (sbatch reads those itself, without a shell) must be made of
 * safe characters and are refused otherwise. Paths of logs are not directives: the submitter
 * passes `--output` as an argv word (slurm-jobs.ts) and the launch-all script quotes it.
 */
import { ServelabError } from '../errors.js';
import { GPU_HELD_MIB } from '../preflight/gpu.js';
import { shellCommand, shellQuote } from '../shell-quote.js';
import { checkRay, RAY_PORT, renderRayStart } from './ray.js';
import { dpModeOf, gpusPerReplica, renderServe, type VllmServerConfig } from './vllm-recipe.js';

/**
 * The cell directory's record of its jobs, one JSON object a line (docs/FORMATS.md): `submitted`
 * (launch-all.sh: the id `sbatch --parsable` printed), `started` (the job itself: nodes, host)
 * and `ended` (the job's EXIT trap: its exit code), each with `jobId` and `at`.
 */
export const SLURM_EVENTS_FILE = 'slurm-events.jsonl';

/** A bash function printing its argument as a JSON string (backslash, quote, control characters). */
const JSON_STR_FN = [
  'json_str() {',
  '  local s=$1',
  '  s=${s//\\\\/\\\\\\\\}; s=${s//\\"/\\\\\\"}',
  "  s=${s//$'\\n'/\\\\n}; s=${s//$'\\r'/\\\\r}; s=${s//$'\\t'/\\\\t}",
  '  printf \'"%s"\' "$s"',
  '}',
];

/** Exit status of a job that found GPU memory in use on an allocated node (EX_TEMPFAIL). */
export const BUSY_NODE_EXIT = 75;

export interface SlurmCellJob {
  /** the cell's id; the job name is made from it (safe characters only) */
  cell: string;
  server: VllmServerConfig;
  /** port of the first server */
  port: number;
  /** nodes of the job (default 1); > 1: one vLLM over Ray spanning them */
  nodes?: number;
  /** GPUs per node (default: what the recipe needs on one node; 0 for engine: sim) */
  gpusPerNode?: number;
  partition?: string;
  account?: string;
  qos?: string;
  /** sbatch --time, e.g. 02:00:00 */
  time?: string;
  /** known-bad nodes */
  exclude?: readonly string[];
  /** more `#SBATCH` directives, e.g. `--exclusive`, `--mem=0` */
  sbatch?: readonly string[];
  /** environment of the job (NCCL_*, IB, ...), exported before anything starts */
  env?: Record<string, string>;
  /** the cell's results directory (absolute, in the shared run directory) */
  cellDir: string;
  /** where server and Ray logs go (one per port / node) */
  logDir: string;
  /** launch/vllm-recipe.ts compileCacheRoot's result (a per-user, persistent directory) */
  cacheRoot: string;
  /** the words that run servelab on a compute node, e.g. ['node', '/home/u/servelab/bin/servelab.js'] */
  servelab: readonly string[];
  /** `servelab bench` flags after --base-url/--model/--out; absent: no benchmark */
  bench?: readonly string[];
  /** seconds a server may take to answer /health (default 1800: cold torch.compile) */
  healthTimeoutS?: number;
  /** seconds to wait for Ray (default 300) */
  rayWaitS?: number;
  /** GPU memory (MiB) above which an allocated node is busy (default preflight GPU_HELD_MIB) */
  gpuHeldMiB?: number;
  vllm?: string;
  ray?: string;
}

export interface RenderedJob {
  jobName: string;
  script: string;
  /** engine: sim: the recipe's settings the simulator does not model */
  notModelled: string[];
  ports: number[];
}

/** What sbatch reads in a directive without a shell: no spaces, quotes or expansions. */
const DIRECTIVE_VALUE = /^[A-Za-z0-9_@%+=:,./-]+$/;

function directive(where: string, flag: string, value: string): string {
  if (!DIRECTIVE_VALUE.test(value))
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: ${flag} value ${JSON.stringify(value)} cannot go into an #SBATCH line`,
      {
        hint: 'use letters, digits and _@%+=:,./- only (sbatch reads these lines itself, without a shell)',
      },
    );
  return `#SBATCH ${flag}=${value}`;
}

/** A SLURM job name from a cell id: unsafe characters become `_`. */
export function jobNameFor(cell: string): string {
  const n = `servelab-${cell}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  return n.slice(0, 200);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkEnv(where: string, env: Record<string, string> | undefined): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!ENV_NAME.test(k))
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: environment name ${JSON.stringify(k)} is not a valid variable name`,
      );
    if (typeof v !== 'string')
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: environment ${k} must be a string, got ${JSON.stringify(v)}`,
      );
    out.push([k, v]);
  }
  return out;
}

function absolute(where: string, key: string, p: string): string {
  if (typeof p !== 'string' || !p.startsWith('/'))
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: ${key} "${p}" must be an absolute path (the job runs elsewhere)`,
    );
  return p;
}

function posInt(where: string, key: string, v: number | undefined, dflt: number, min = 1): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min)
    throw new ServelabError('BAD_CONFIG', `${where}: ${key} must be an integer >= ${min}, got ${v}`);
  return n;
}

/** The server lines of one process: env words (caches per node and port), argv, log, tracking. */
function serverLines(
  label: string,
  port: number,
  argv: string[],
  env: Record<string, string>,
  gpus: { from: number; count: number } | undefined,
): string[] {
  if (argv[0]?.includes('='))
    throw new ServelabError('BAD_CONFIG', `${label}: the executable ${JSON.stringify(argv[0])} contains "="`);
  const envWords = [
    `"TORCHINDUCTOR_CACHE_DIR=$CACHE_ROOT/$node_name-${port}/torchinductor"`,
    `"VLLM_CACHE_ROOT=$CACHE_ROOT/$node_name-${port}/vllm"`,
    ...(gpus ? [`"CUDA_VISIBLE_DEVICES=$(gpus_of ${gpus.from} ${gpus.count})"`] : []),
    ...Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`)),
  ];
  return [
    `mkdir -p "$CACHE_ROOT/$node_name-${port}"`,
    `env ${envWords.join(' ')} ${shellCommand(argv)} >"$LOG_DIR/"${shellQuote(`${label}.log`)} 2>&1 &`,
    `track $! ${shellQuote(`server ${label}`)} "$LOG_DIR/"${shellQuote(`${label}.log`)}`,
  ];
}

/** The sbatch script of one cell. Throws ServelabError (bad input, exit 2) naming the field. */
export function renderCellJob(job: SlurmCellJob): RenderedJob {
  const where = `cell ${job.cell}`;
  const nodes = posInt(where, 'nodes', job.nodes, 1);
  const cfg = job.server;
  const engine = cfg.engine ?? 'vllm';
  const perReplica = gpusPerReplica(cfg, where);
  const dp = posInt(where, 'data_parallel_size', cfg.data_parallel_size, 1);
  const mode = dpModeOf(cfg);
  const needOnOne = perReplica * dp;
  const gpusPerNode = posInt(
    where,
    'gpus_per_node',
    job.gpusPerNode,
    engine === 'sim' ? 0 : nodes === 1 ? needOnOne : perReplica / nodes,
    0,
  );
  if (nodes > 1) {
    if (dp > 1)
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: data_parallel_size ${dp} over Ray on ${nodes} nodes is not rendered`,
        {
          hint: 'one multi-node vLLM per job (TP x PP spanning the nodes); run DP replicas as separate cells or jobs',
        },
      );
    checkRay(
      { nodes, gpusPerNode: Math.max(gpusPerNode, 1), ...(job.rayWaitS ? { waitS: job.rayWaitS } : {}) },
      where,
    );
    if (engine !== 'sim' && perReplica !== nodes * gpusPerNode)
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: TP x PP = ${perReplica} GPUs, but ${nodes} nodes x ${gpusPerNode} GPUs = ${nodes * gpusPerNode}`,
        {
          hint: 'make tensor_parallel_size x pipeline_parallel_size span the nodes, e.g. TP 8 x PP 8 on 8 x 8 GPUs',
        },
      );
  } else if (engine !== 'sim' && gpusPerNode < needOnOne) {
    throw new ServelabError(
      'BAD_CONFIG',
      `${where}: the recipe needs ${needOnOne} GPUs, gpus_per_node is ${gpusPerNode}`,
    );
  }
  const port = posInt(where, 'port', job.port, 0);
  if (port > 65535) throw new ServelabError('BAD_CONFIG', `${where}: port ${port} is above 65535`);
  const cellDir = absolute(where, 'cell directory', job.cellDir);
  const logDir = absolute(where, 'log directory', job.logDir);
  const cacheRoot = absolute(where, 'cache root', job.cacheRoot);
  const env = checkEnv(where, job.env);
  if (!Array.isArray(job.servelab) || job.servelab.length === 0)
    throw new ServelabError('BAD_CONFIG', `${where}: how to run servelab on the nodes is not given`);
  const healthS = posInt(where, 'health timeout', job.healthTimeoutS, 1800);
  const heldMiB = posInt(where, 'gpu held MiB', job.gpuHeldMiB, GPU_HELD_MIB, 0);
  const jobName = jobNameFor(job.cell);

  const head: string[] = [
    '#!/bin/bash',
    directive(where, '--job-name', jobName),
    directive(where, '--nodes', String(nodes)),
  ];
  head.push(directive(where, '--ntasks-per-node', '1'));
  if (gpusPerNode > 0) head.push(directive(where, '--gpus-per-node', String(gpusPerNode)));
  if (job.partition !== undefined) head.push(directive(where, '--partition', job.partition));
  if (job.account !== undefined) head.push(directive(where, '--account', job.account));
  if (job.qos !== undefined) head.push(directive(where, '--qos', job.qos));
  if (job.time !== undefined) head.push(directive(where, '--time', job.time));
  if (job.exclude && job.exclude.length > 0) head.push(directive(where, '--exclude', job.exclude.join(',')));
  for (const d of job.sbatch ?? []) {
    const m = /^(--[a-z][a-z-]*)(?:=(.*))?$/.exec(d);
    if (!m)
      throw new ServelabError(
        'BAD_CONFIG',
        `${where}: sbatch directive ${JSON.stringify(d)} is not --name or --name=value`,
      );
    head.push(m[2] === undefined ? `#SBATCH ${m[1]}` : directive(where, m[1]!, m[2]));
  }

  const body: string[] = [
    `# servelab cell ${shellQuote(job.cell).replace(/\n/g, ' ')}: rendered by servelab; values from the spec are quoted`,
    'set -euo pipefail',
    `CELL_DIR=${shellQuote(cellDir)}`,
    `LOG_DIR=${shellQuote(logDir)}`,
    `CACHE_ROOT=${shellQuote(cacheRoot)}`,
    `SERVELAB=(${job.servelab.map(shellQuote).join(' ')})`,
    `GPU_HELD_MIB=${heldMiB}`,
    'mkdir -p "$CELL_DIR" "$LOG_DIR" "$CACHE_ROOT"',
    // the job records its own start (job id, nodes) and end (exit code) in the cell directory:
    // a job submitted by hand is then known to `servelab sweep status` (SLURM_EVENTS_FILE)
    `CELL_JSON=${shellQuote(JSON.stringify(job.cell))}`,
    ...JSON_STR_FN,
    'job_event() {',
    `  printf '{"v":1,"event":"%s","jobId":%s,"at":%s%s}\\n' "$1" "$(json_str "\${SLURM_JOB_ID:-}")" "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "\${2:-}" >>"$CELL_DIR/${SLURM_EVENTS_FILE}" 2>/dev/null || true`,
    '}',
    ...env.map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    'pids=(); names=(); logs=()',
    'die() { echo "servelab-job: $*" >&2; exit 1; }',
    'track() { pids+=("$1"); names+=("$2"); logs+=("${3:-}"); }',
    'check_tracked() {',
    '  local i',
    '  for i in "${!pids[@]}"; do',
    '    if ! kill -0 "${pids[$i]}" 2>/dev/null; then',
    '      echo "servelab-job: ${names[$i]} exited early" >&2',
    '      [ -z "${logs[$i]}" ] || { echo "--- last lines of ${logs[$i]}:" >&2; tail -n 40 "${logs[$i]}" >&2 || true; }',
    '      exit 1',
    '    fi',
    '  done',
    '}',
    'cleanup() {',
    '  local rc=$? p',
    '  trap - EXIT',
    '  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done',
    '  wait 2>/dev/null || true',
    '  job_event ended ",\\"exitCode\\":$rc"',
    '}',
    'trap cleanup EXIT',
    "trap 'exit 143' TERM INT",
    'node_name=${SLURMD_NODENAME:-$(hostname -s)}',
    'mapfile -t nodes < <(scontrol show hostnames "${SLURM_JOB_NODELIST:-$node_name}")',
    'echo "servelab-job: job ${SLURM_JOB_ID:-?} on ${nodes[*]}"',
    'job_event started ",\\"cell\\":$CELL_JSON,\\"nodes\\":$(json_str "${SLURM_JOB_NODELIST:-$node_name}"),\\"host\\":$(json_str "$node_name")"',
    // GPU check of every allocated node (W4: idle nodes with occupied GPUs)
    '# --- GPUs of every allocated node: memory already in use means a dead job holds them',
    'busy=()',
    `for node in "\${nodes[@]:0:${nodes}}"; do`,
    `  if out=$(srun --overlap --nodes=1 --ntasks=1 -w "$node" nvidia-smi --query-gpu=index,memory.used --format=csv 2>&1); then`,
    `    held=$(awk -F', *' -v lim="$GPU_HELD_MIB" 'NR > 1 { m = $2 + 0; if (m > lim) printf "GPU %s holds %s; ", $1, $2 }' <<<"$out")`,
    '    if [ -n "$held" ]; then busy+=("$node"); echo "servelab-job: node $node has GPU memory in use: $held" >&2; fi',
    '  else',
    '    echo "servelab-job: no GPU check on $node (nvidia-smi: ${out##*$\'\\n\'})"',
    '  fi',
    'done',
    'if [ "${#busy[@]}" -gt 0 ]; then',
    '  printf \'%s\\n\' "${busy[@]}" >"$CELL_DIR/busy-nodes.txt"',
    `  echo "servelab-job: not launching; busy node(s): \${busy[*]} (listed in $CELL_DIR/busy-nodes.txt; exclude them and resubmit)" >&2`,
    `  exit ${BUSY_NODE_EXIT}`,
    'fi',
    // health over bash's /dev/tcp: nothing but bash needed on the node
    'healthy() {',
    '  local body',
    '  exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1',
    "  printf 'GET /health HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3",
    '  body=$(timeout 5 cat <&3 || true)',
    '  exec 3>&-',
    '  [[ "$body" == "HTTP/1."?" 200"* ]]',
    '}',
    'wait_healthy() {',
    `  local port=$1 deadline=$((SECONDS + ${healthS}))`,
    '  until healthy "$port"; do',
    `    [ "$SECONDS" -lt "$deadline" ] || die "the server on port $port did not answer /health within ${healthS} s"`,
    '    check_tracked',
    '    sleep 1',
    '  done',
    '  echo "servelab-job: server on port $port is healthy"',
    '}',
  ];

  const ports: number[] = [];
  let notModelled: string[] = [];
  const servedName = cfg.served_model_name ?? cfg.model;
  const renderOpts = {
    ...(job.vllm !== undefined ? { vllm: job.vllm } : {}),
    servelab: [...job.servelab],
    where,
  };
  if (nodes === 1) {
    const replicas = mode === 'replicas' ? dp : 1;
    const gpusEach = mode === 'replicas' ? perReplica : perReplica * dp;
    body.push(
      '# --- servers: one per DP replica, each with its GPUs, its caches and a log per port',
      `IFS=, read -ra alloc_gpus <<<"\${CUDA_VISIBLE_DEVICES:-${Array.from({ length: Math.max(gpusPerNode, 1) }, (_, i) => i).join(',')}}"`,
      'gpus_of() { local IFS=,; echo "${alloc_gpus[*]:$1:$2}"; }',
    );
    for (let i = 0; i < replicas; i++) {
      const p = port + i;
      if (p > 65535) throw new ServelabError('BAD_CONFIG', `${where}: port ${p} is above 65535`);
      const r = renderServe(cfg, { port: p, ...renderOpts, omitDataParallel: mode === 'replicas' });
      notModelled = r.notModelled;
      const label = `${jobName}-${p}`;
      body.push(
        ...serverLines(
          label,
          p,
          r.argv,
          r.env,
          engine === 'sim' ? undefined : { from: i * gpusEach, count: gpusEach },
        ),
      );
      ports.push(p);
    }
  } else {
    body.push(
      ...renderRayStart({
        nodes,
        gpusPerNode: Math.max(gpusPerNode, 1),
        ...(job.rayWaitS ? { waitS: job.rayWaitS } : {}),
        ...(job.ray !== undefined ? { ray: job.ray } : {}),
      }),
    );
    const r = renderServe(
      { ...cfg, distributed_executor_backend: 'ray' },
      { port, ...renderOpts, omitDataParallel: true },
    );
    notModelled = r.notModelled;
    const label = `${jobName}-${port}`;
    body.push('# --- vLLM on the head node, TP x PP over the Ray cluster');
    body.push(`export VLLM_HOST_IP="$head_ip" RAY_ADDRESS="$head_ip:${RAY_PORT}"`);
    body.push(...serverLines(label, port, r.argv, r.env, undefined));
    ports.push(port);
  }
  if (notModelled.length > 0) {
    body.push(`printf '%s\\n' ${notModelled.map(shellQuote).join(' ')} >"$CELL_DIR/not-modelled.txt"`);
    body.push(`echo "servelab-job: not modelled by the simulator: ${notModelled.join(', ')}"`);
  }
  for (const p of ports) body.push(`wait_healthy ${p}`);
  if (job.bench) {
    for (const w of job.bench) {
      if (typeof w !== 'string')
        throw new ServelabError(
          'BAD_CONFIG',
          `${where}: bench arguments must be strings, got ${JSON.stringify(w)}`,
        );
    }
    body.push(
      "# --- the benchmark, from inside the job, against the job's own server",
      `"\${SERVELAB[@]}" bench --base-url http://127.0.0.1:${ports[0]} --model ${shellQuote(servedName)} --out "$CELL_DIR/bench" ${job.bench.map(shellQuote).join(' ')}`.trimEnd(),
      'check_tracked',
      'echo "servelab-job: benchmark done; results in $CELL_DIR/bench"',
    );
  } else {
    body.push('check_tracked', 'echo "servelab-job: servers healthy (no benchmark in this job)"');
  }
  return { jobName, script: `${[...head, ...body].join('\n')}\n`, notModelled, ports };
}

/** One job of launch-all.sh: its script, its log (`%j`: the job id) and its cell directory. */
export interface LaunchAllJob {
  script: string;
  output: string;
  /** the cell's directory: the job id is recorded in its slurm-events.jsonl */
  cellDir?: string;
}

/**
 * A script that submits every rendered job with `sbatch --parsable`, each with its own log file
 * (`--output`, quoted: paths are values from the spec), printing `<job id> <script>` lines. Each
 * id is recorded as it is printed: a `<job id>\t<script>` line in `submitted` (beside the
 * scripts) and a `submitted` event in the cell's slurm-events.jsonl, so `servelab sweep status`
 * knows a job still pending; `runJson` (the plan, servelab sbatch) is written into `runDir`.
 */
export function renderLaunchAll(
  jobs: readonly LaunchAllJob[],
  o: { submitted?: string; runDir?: string; runJson?: string } = {},
): string {
  const lines = [
    '#!/bin/bash',
    '# rendered by servelab sbatch: submits every cell script; prints "<job id> <script>" per job',
    '# and records each id (servelab sweep status <run dir> reads them)',
    'set -euo pipefail',
  ];
  if (o.submitted) lines.push(`SUBMITTED=${shellQuote(o.submitted)}`);
  if (o.runDir && o.runJson)
    lines.push(
      `mkdir -p ${shellQuote(o.runDir)}`,
      `printf '%s\\n' ${shellQuote(o.runJson)} >${shellQuote(`${o.runDir}/run.json`)}`,
    );
  lines.push(
    '# submit SCRIPT LOG [CELL_DIR SCRIPT_JSON LOG_JSON]',
    'submit() {',
    '  local id',
    '  mkdir -p "$(dirname "$2")"',
    '  id=$(sbatch --parsable "--output=$2" "$1")',
    '  id=${id%%;*}',
    '  [[ "$id" =~ ^[0-9]+(_[0-9]+)?$ ]] || { echo "launch-all: sbatch answered \\"$id\\" for $1, not a job id" >&2; exit 1; }',
    ...(o.submitted ? ['  printf \'%s\\t%s\\n\' "$id" "$1" >>"$SUBMITTED"'] : []),
    '  if [ -n "${3:-}" ]; then',
    '    mkdir -p "$3"',
    `    printf '{"v":1,"event":"submitted","jobId":"%s","at":"%s","script":%s,"log":%s}\\n' "$id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$4" "$5" >>"$3/${SLURM_EVENTS_FILE}"`,
    '  fi',
    '  echo "$id $1"',
    '}',
  );
  for (const j of jobs) {
    const words = [j.script, j.output];
    if (j.cellDir) words.push(j.cellDir, JSON.stringify(j.script), JSON.stringify(j.output));
    lines.push(`submit ${words.map(shellQuote).join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

import { execFile } from 'node:child_process';

/** Runs a program with an argument array (never a shell string). */
export type ExecFileFn = (
  file: string,
  args: string[],
  opts: { timeoutMs: number },
) => Promise<{ stdout: string; stderr: string }>;

export const execFileNode: ExecFileFn = (file, args, { timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });

export interface GpuState {
  index: number;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
  utilizationPct?: number;
}

export type GpuReport =
  | { available: false; reason: string }
  | { available: true; gpus: GpuState[]; warnings: string[] };

/** Memory above this on an idle GPU means a process (maybe from a dead job) still holds it. */
export const GPU_HELD_MIB = 1024;

const QUERY = ['--query-gpu=index,memory.used,memory.total,utilization.gpu', '--format=csv'];

/** Parses `nvidia-smi --query-gpu=index,memory.used,memory.total[,utilization.gpu] --format=csv`. */
export function parseNvidiaSmiCsv(text: string): GpuState[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const out: GpuState[] = [];
  for (const line of lines.slice(1)) {
    const cells = line.split(',').map((c) => c.trim());
    const num = (c: string | undefined) => (c === undefined ? Number.NaN : Number.parseFloat(c));
    const g: GpuState = { index: num(cells[0]), memoryUsedMiB: num(cells[1]), memoryTotalMiB: num(cells[2]) };
    const u = num(cells[3]);
    if (Number.isFinite(u)) g.utilizationPct = u;
    if (Number.isFinite(g.index) && Number.isFinite(g.memoryUsedMiB)) out.push(g);
  }
  return out;
}

/** GPU occupancy, or `available: false` when nvidia-smi is absent or fails. */
export async function queryGpus(exec: ExecFileFn = execFileNode, timeoutMs = 5000): Promise<GpuReport> {
  let stdout: string;
  try {
    ({ stdout } = await exec('nvidia-smi', QUERY, { timeoutMs }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      available: false,
      reason:
        code === 'ENOENT'
          ? 'nvidia-smi not found'
          : `nvidia-smi failed: ${(err as Error).message.split('\n')[0]}`,
    };
  }
  const gpus = parseNvidiaSmiCsv(stdout);
  const warnings = gpus
    .filter((g) => g.memoryUsedMiB > GPU_HELD_MIB)
    .map(
      (g) =>
        `GPU ${g.index} holds ${g.memoryUsedMiB} MiB of ${g.memoryTotalMiB} MiB: a process (a running server, or a dead job) holds memory; a new server there may not fit`,
    );
  return { available: true, gpus, warnings };
}

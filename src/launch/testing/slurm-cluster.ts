/**
 * The real SLURM of scripts/slurm-up.sh (three nodes sl1..sl3 on localhost) for tests. Missing
 * SLURM (not installed, not root) fails the tests loudly, unless SERVELAB_ALLOW_MISSING_DEPS=1,
 * where they are skipped with the reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';

export const REPO = resolve(import.meta.dirname, '..', '..', '..');
export const SERVELAB_BIN = resolve(REPO, 'bin', 'servelab.js');
export const SLURM_NODES = ['sl1', 'sl2', 'sl3'] as const;

export type SlurmUp = { ok: true } | { ok: false; reason: string };

/** Brings the cluster up (idempotent, ~0.1 s when it is up already). */
export function slurmUp(): SlurmUp {
  if (!existsSync(resolve(REPO, 'dist', 'cli', 'main.js')))
    return { ok: false, reason: 'dist/ is missing: run `npm run build` first (jobs run bin/servelab.js)' };
  try {
    execFileSync('bash', [resolve(REPO, 'scripts', 'slurm-up.sh')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return {
      ok: false,
      reason: `scripts/slurm-up.sh failed: ${err.stderr?.toString().trim() || err.message}`,
    };
  }
}

/** Whether tests that need SLURM may skip (SERVELAB_ALLOW_MISSING_DEPS=1); otherwise they fail. */
export const allowMissing = process.env.SERVELAB_ALLOW_MISSING_DEPS === '1';

/**
 * The cluster for one test file, `what` naming its tests: up, or (missing SLURM) a warning where
 * allowMissing lets the tests skip (`describe.skipIf(!up.ok)`), else an error that fails the file.
 */
export function slurmForTests(what: string): SlurmUp {
  const up = slurmUp();
  if (!up.ok && allowMissing) console.warn(`SKIPPING ${what}: ${up.reason} (SERVELAB_ALLOW_MISSING_DEPS=1)`);
  if (!up.ok && !allowMissing)
    throw new Error(`${what} need SLURM: ${up.reason} (set SERVELAB_ALLOW_MISSING_DEPS=1 to skip them)`);
  return up;
}

/**
 * A test file's scratch directory (`root`, under the temp dir) and its compile-cache root
 * (`cacheRoot`: caches live under the home directory, never /tmp (W4); this file's own
 * subdirectory), both removed after the file.
 */
export function slurmScratch(prefix: string): { root: string; cacheRoot: string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cacheRoot = join(homedir(), '.cache', 'servelab-test', root.split('/').at(-1)!);
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(cacheRoot, { recursive: true, force: true });
  });
  return { root, cacheRoot };
}

/** Resolves once the server on `port` answers /health (polled every 200 ms). */
export async function untilHealthy(port: number): Promise<void> {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (x) => x.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((res) => setTimeout(res, 200));
  }
}

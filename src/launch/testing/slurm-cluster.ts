/**
 * The real SLURM of scripts/slurm-up.sh (three nodes sl1..sl3 on localhost) for tests. Missing
 * SLURM (not installed, not root) fails the tests loudly, unless SERVELAB_ALLOW_MISSING_DEPS=1,
 * where they are skipped with the reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

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

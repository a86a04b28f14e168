#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('servelab: dist/ is missing. Run `npm ci && npm run build` in the servelab folder first.\n');
  process.exit(2);
}
const { runMain } = await import(entry.href);
process.exitCode = await runMain(process.argv.slice(2));

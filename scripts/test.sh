#!/usr/bin/env bash
# The README's test command: sets itself up on a fresh clone, then lint, typecheck, build, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx biome check src bench test
npx tsc -p tsconfig.json --noEmit
npm run build --silent
npx vitest run "$@"

#!/usr/bin/env bash
# The README's test command: sets itself up on a fresh clone, then lint, typecheck, build, tests.
# Ends with a plain "N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
# headless Chromium (HTML report test) and Prometheus (--prometheus-url test), when missing
bash scripts/ci-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx biome check src bench
npx tsc -p tsconfig.json --noEmit
npm run build --silent
report=$(mktemp -t servelab-vitest-XXXXXX.json)
trap 'rm -f "$report"' EXIT
rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || rc=$?
if [ -s "$report" ]; then
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report"
fi
exit "$rc"

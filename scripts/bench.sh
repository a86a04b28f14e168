#!/usr/bin/env bash
# Runs one benchmark of bench/ on the compiled code, as users run servelab:
#   npm run bench -- <name> [args]        e.g. npm run bench -- sim-realtime-front --streams 2000
# (Under tsx, esbuild's keepNames wraps every named closure in a defineProperty call, which
# slows hot paths; the figures in docs/BENCHMARKS.md come from this script unless they say so.)
set -euo pipefail
cd "$(dirname "$0")/.."
names=$(ls bench | sed -n 's/\.ts$//p' | tr '\n' ' ')
name="${1:-}"
if [ -z "$name" ] || [ ! -f "bench/${name%.ts}.ts" ]; then
  echo "usage: npm run bench -- <name> [args]; names: $names" >&2
  exit 2
fi
shift
[ -d node_modules ] || npm ci
npx tsc -p tsconfig.bench.json
exec node "dist-bench/bench/${name%.ts}.js" "$@"

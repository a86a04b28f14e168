#!/usr/bin/env bash
# The README's main command: sets itself up, then runs the agentic quickstart on the simulator.
# The simulated servers listen on free ports; `npm run quickstart -- --w1-ports` uses W1's (1900, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
exec node bin/servelab.js run examples/agentic-quickstart.yaml "$@"

#!/usr/bin/env bash
# The README's main command: sets itself up, then runs W2 in virtual time (examples/agentic-quickstart.yaml):
# baseline vLLM, the program-aware router and the KV-TTL fork on the simulated W1 topology, C = 32/64/128,
# and ends with the users' table (tasks/min (steps/s) per system and C, the winner per row).
# The real-time HTTP quickstart: node bin/servelab.js run examples/agentic-quickstart-realtime.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
start=$(date +%s)
node bin/servelab.js simulate examples/agentic-quickstart.yaml "$@"
run=$(ls -td runs/agentic-quickstart-* 2>/dev/null | head -1)
if [ -n "$run" ] && [ -f "$run/compare.md" ]; then
  echo
  echo "W2 in virtual time, the users' table ($run/compare.md):"
  sed -n '/^## active window/,/^### /p' "$run/compare.md" | sed '$d'
fi
echo "quickstart: $(( $(date +%s) - start )) s wall for the simulation, analysis and report"

#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, then solve the project's own sample
# image through the embedded nova-compatible server and the real solver.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-solver.sh
if [ ! -d node_modules/xstate ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
node scripts/solve-sample.mjs "$@"

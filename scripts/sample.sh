#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, then solve the project's own sample
# image through the embedded nova-compatible server and the real solver. Says how long the
# installation took (ASTROMETRY_INDEX_SET=lean installs the small index set; see install-solver.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s%N)
bash scripts/install-solver.sh
t1=$(date +%s%N)
if [ ! -d node_modules/xstate ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
t2=$(date +%s%N)
secs() { awk -v ns="$1" 'BEGIN { printf "%.1f s", ns / 1e9 }'; }
echo "sample: installation took $(secs $((t2 - t0))) (solver and index: $(secs $((t1 - t0))); npm packages and build: $(secs $((t2 - t1))))"
node scripts/solve-sample.mjs "$@"

#!/usr/bin/env bash
# `npm test`: make sure what the tests need is here (npm packages, the real solver, chromium,
# Debian's python3-astroquery, PostgreSQL), build, then run every test. Nothing is skipped: the real-solver,
# browser and astroquery tests always run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-solver.sh
bash scripts/install-browser.sh
bash scripts/install-astroquery.sh
# The multi-node server tests share one PostgreSQL; the script prints its URL last.
ASTROMETRY_TEST_DATABASE_URL="$(bash scripts/install-postgres.sh | tail -1)"
export ASTROMETRY_TEST_DATABASE_URL
if [ ! -d node_modules/xstate ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
# The tests are type-checked too: a test that no longer compiles against the API is a broken test.
npm run typecheck --silent
# Both packages: the client's tests, then the server's (`unit` is a subset of `client`).
npx vitest run --project client --project server "$@"

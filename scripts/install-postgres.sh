#!/usr/bin/env bash
# PostgreSQL for the multi-node tests of `astrometry-net serve --database`: installs Debian's
# postgresql (apt), makes sure a cluster exists and is running, and creates a role and a
# database for the tests (the role may create databases: each test suite makes its own).
#
# Idempotent and meant for CI as root. Progress goes to stderr; the last line on stdout is the
# URL the tests read from ASTROMETRY_TEST_DATABASE_URL, e.g.
#   export ASTROMETRY_TEST_DATABASE_URL="$(bash scripts/install-postgres.sh)"
set -euo pipefail

ROLE=astrometry_test
PASSWORD=astrometry_test
DB=astrometry_test

log() { echo "install-postgres: $*" >&2; }

explain() {
  cat >&2 <<MSG
install-postgres: $1
PostgreSQL is needed for the multi-node server tests. On Debian or Ubuntu:

  sudo apt-get update
  sudo apt-get install -y --no-install-recommends postgresql
MSG
  exit 1
}

have_server() {
  command -v pg_lsclusters >/dev/null 2>&1 && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

if ! have_server; then
  source "$(dirname "$0")/lib/apt-install.sh"
  apt_install install-postgres postgresql >&2
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi
}

if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  log "creating cluster ${version}/main"
  pg_createcluster "$version" main >&2
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
if [ "$status" != "online" ]; then
  log "starting cluster ${version}/${cluster} on port ${port}"
  pg_ctlcluster "$version" "$cluster" start >&2
fi

psql_admin() { as_postgres psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@"; }
for _ in $(seq 1 30); do
  psql_admin -tAc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 1
done
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '${ROLE}'")" != "1" ]; then
  log "creating role ${ROLE}"
  psql_admin -c "CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}'"
fi
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '${DB}'")" != "1" ]; then
  log "creating database ${DB}"
  psql_admin -c "CREATE DATABASE ${DB} OWNER ${ROLE}"
fi
log "PostgreSQL ${version} is running on port ${port}"
echo "postgres://${ROLE}:${PASSWORD}@127.0.0.1:${port}/${DB}"

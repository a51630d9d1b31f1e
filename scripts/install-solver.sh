#!/usr/bin/env bash
# Install the real plate solver for the local nova-compatible server and its tests:
# Debian's astrometry.net (solve-field, wcsinfo, plot-constellations, ...) and the Tycho-2
# index files (fields about 1 to 33 degrees wide).
#
# Idempotent: does nothing when solve-field and the index are already there. Installs with
# apt-get when running as root or with password-less sudo; otherwise says what to install
# and exits non-zero.
set -euo pipefail

PACKAGES=(astrometry.net astrometry-data-tycho2-10-19-littleendian)
INDEX_DIR=${ASTROMETRY_INDEX_DIR:-/usr/share/astrometry}

have_solver() {
  command -v solve-field >/dev/null 2>&1 || return 1
  compgen -G "${INDEX_DIR}/index-tycho2-1[0-9]*.fits" >/dev/null || return 1
}

if have_solver; then
  echo "install-solver: solve-field ($(command -v solve-field)) and the Tycho-2 index in ${INDEX_DIR} are installed; nothing to do."
  exit 0
fi

explain() {
  cat >&2 <<EOF
install-solver: $1
The solver is missing. On Debian or Ubuntu install it with:

  sudo apt-get update
  sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}

Elsewhere, install astrometry.net (https://astrometry.net) so that 'solve-field' is on PATH,
and the Tycho-2 index files index-tycho2-10..19 into ${INDEX_DIR}.
EOF
  exit 1
}

source "$(dirname "$0")/lib/apt-install.sh"
apt_install install-solver "${PACKAGES[@]}"

have_solver || explain "the packages installed, but solve-field or the index files are still missing."
echo "install-solver: installed $(solve-field --version 2>/dev/null || echo astrometry.net); index in ${INDEX_DIR}."

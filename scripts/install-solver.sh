#!/usr/bin/env bash
# Install the real plate solver for the local nova-compatible server and its tests:
# Debian's astrometry.net (solve-field, wcsinfo, plot-constellations, ...) and Tycho-2 index files.
#
# Index sets (choose with --lean / --full, or ASTROMETRY_INDEX_SET=lean|full; default full):
#   full  Tycho-2 scales 07-19: fields from about 22' wide (most telescope frames are
#         0.3-1 deg). Packages astrometry-data-tycho2-07, -08, -09 (22'-60' fields: 166 MB to
#         download, 249 MB on disk) and -10-19 (22 MB download, 36 MB on disk).
#   lean  Tycho-2 scales 10-19 only: fields wider than about 1 deg (for CI or small disks).
#
# Idempotent: does nothing when solve-field and the chosen index set are already there.
# Installs with apt-get when running as root or with password-less sudo; otherwise says what to
# install and exits non-zero.
set -euo pipefail

SET=${ASTROMETRY_INDEX_SET:-full}
for arg in "$@"; do
  case "$arg" in
    --lean) SET=lean ;;
    --full) SET=full ;;
    *) echo "install-solver: unknown argument '$arg'; allowed: --lean, --full" >&2; exit 2 ;;
  esac
done
case "$SET" in
  full | lean) ;;
  *) echo "install-solver: ASTROMETRY_INDEX_SET='$SET'; allowed: full, lean" >&2; exit 2 ;;
esac

PACKAGES=(astrometry.net astrometry-data-tycho2-10-19-littleendian)
SCALES=(1[0-9])
if [ "$SET" = full ]; then
  PACKAGES+=(astrometry-data-tycho2-07-littleendian astrometry-data-tycho2-08-littleendian astrometry-data-tycho2-09-littleendian)
  SCALES+=(07 08 09)
fi
INDEX_DIR=${ASTROMETRY_INDEX_DIR:-/usr/share/astrometry}

have_solver() {
  command -v solve-field >/dev/null 2>&1 || return 1
  local s
  for s in "${SCALES[@]}"; do
    compgen -G "${INDEX_DIR}/index-tycho2-${s}*.fits" >/dev/null || return 1
  done
}

describe_set() {
  if [ "$SET" = full ]; then
    echo "the full Tycho-2 set 07-19 (fields from about 22' wide)"
  else
    echo "the lean Tycho-2 set 10-19 (fields wider than about 1 deg; narrower fields fail: install-solver.sh --full adds 07-09)"
  fi
}

if have_solver; then
  echo "install-solver: solve-field ($(command -v solve-field)) and $(describe_set) in ${INDEX_DIR} are installed; nothing to do."
  exit 0
fi

explain() {
  cat >&2 <<EOT
install-solver: $1
The solver is missing. On Debian or Ubuntu install it with:

  sudo apt-get update
  sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}

Elsewhere, install astrometry.net (https://astrometry.net) so that 'solve-field' is on PATH,
and the Tycho-2 index files index-tycho2-${SCALES[*]} into ${INDEX_DIR}.
EOT
  exit 1
}

if [ "$SET" = full ]; then
  echo "install-solver: installing $(describe_set): about 188 MB to download, 285 MB on disk (ASTROMETRY_INDEX_SET=lean or --lean: 22 MB, 36 MB)."
else
  echo "install-solver: installing $(describe_set): about 22 MB to download, 36 MB on disk."
fi
source "$(dirname "$0")/lib/apt-install.sh"
apt_install install-solver "${PACKAGES[@]}"

have_solver || explain "the packages installed, but solve-field or the index files are still missing."
echo "install-solver: installed $(solve-field --version 2>/dev/null || echo astrometry.net); $(describe_set) in ${INDEX_DIR}."

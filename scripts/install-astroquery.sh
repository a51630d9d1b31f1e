#!/usr/bin/env bash
# Install Debian's astroquery for the test that drives `astrometry-net serve` with astroquery's
# AstrometryNet client (test/astroquery.test.ts, test/python/astroquery_solve.py). Debian's
# Python modules import under the system interpreter, /usr/bin/python3.
# Idempotent; needs root or password-less sudo, else says what to install.
set -euo pipefail

PYTHON=${ASTROQUERY_PYTHON:-/usr/bin/python3}

have_astroquery() {
  [ -x "$PYTHON" ] && "$PYTHON" -c 'import astroquery.astrometry_net' >/dev/null 2>&1
}

if have_astroquery; then
  echo "install-astroquery: astroquery $("$PYTHON" -c 'import astroquery; print(astroquery.__version__)' 2>/dev/null) is installed for $PYTHON; nothing to do."
  exit 0
fi

explain() {
  cat >&2 <<EOT
install-astroquery: $1
The astroquery test needs Debian's python3-astroquery (imported by $PYTHON). Install it with:

  sudo apt-get install -y --no-install-recommends python3-astroquery

or point ASTROQUERY_PYTHON at a Python that can import astroquery.astrometry_net.
EOT
  exit 1
}

source "$(dirname "$0")/lib/apt-install.sh"
apt_install install-astroquery python3-astroquery
have_astroquery || explain "python3-astroquery installed, but $PYTHON still cannot import astroquery.astrometry_net."
echo "install-astroquery: installed astroquery $("$PYTHON" -c 'import astroquery; print(astroquery.__version__)') for $PYTHON."

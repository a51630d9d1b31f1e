#!/usr/bin/env bash
# Install Debian's chromium for the browser test (playwright-core drives it; no browser is
# downloaded). Idempotent; needs root or password-less sudo, else says what to install.
set -euo pipefail

CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  echo "install-browser: $CHROMIUM is installed; nothing to do."
  exit 0
fi

explain() {
  cat >&2 <<EOT
install-browser: $1
The browser test needs Debian's chromium. Install it with:

  sudo apt-get install -y --no-install-recommends chromium

or point CHROMIUM_PATH at a Chromium or Chrome binary.
EOT
  exit 1
}

source "$(dirname "$0")/lib/apt-install.sh"
apt_install install-browser chromium
[ -x "$CHROMIUM" ] || explain "chromium installed, but $CHROMIUM is still missing."
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)."

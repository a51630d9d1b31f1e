# Sourced by the install scripts: install Debian packages with apt-get, as root or with
# password-less sudo, refreshing the package lists only when they do not know the packages.
# Usage: apt_install TAG PACKAGE...   (explain TAG MESSAGE must be defined by the caller)

apt_install() {
  local tag=$1
  shift
  local packages=("$@")
  command -v apt-get >/dev/null 2>&1 || explain "apt-get is not available on this machine."
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      explain "not running as root, and sudo needs a password (or is not installed)."
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  local p known=1
  for p in "${packages[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || known=0
  done
  if [ "$known" -eq 0 ]; then
    echo "$tag: apt-get update"
    "${sudo[@]}" apt-get update -qq
  fi
  echo "$tag: apt-get install ${packages[*]}"
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"; then
    # Stale lists can point at files the mirror no longer has: refresh once and retry.
    echo "$tag: install failed; refreshing package lists and retrying"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
  fi
}

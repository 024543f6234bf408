# infra/dev/lib.sh -- shared settings for the project's local services.
# Sourced by the other scripts; not run on its own.
#
# Everything the scripts install or create lives outside the repository:
#   RECONCILER_CACHE  tools and the Synapse chroot, kept across runs
#                     (default: $XDG_CACHE_HOME/openmeet-reconciler or ~/.cache/openmeet-reconciler)
#   RECONCILER_STATE  data of the running services (default: /tmp/openmeet-reconciler)

set -euo pipefail
export LANG=C.UTF-8 LC_ALL=C.UTF-8

CACHE_DIR=${RECONCILER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openmeet-reconciler}
STATE_DIR=${RECONCILER_STATE:-/tmp/openmeet-reconciler}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { echo "[$(basename "$0" .sh)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (apt-get, chroot, mount). Run it as root or with sudo -E."
}

APT_UPDATED=
apt_install() {  # apt_install PKG... : install host packages from the host's own distribution
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "installing ${missing[*]}"
  log "apt-get install ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then apt-get update -q >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

rand_hex() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# wait_for DESCRIPTION SECONDS COMMAND... : poll until COMMAND succeeds
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  log "$what is ready"
}

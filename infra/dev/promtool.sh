#!/usr/bin/env bash
# infra/dev/promtool.sh -- checks the Prometheus alerting rules and runs their unit
# tests: `promtool check rules infra/prometheus/alerts.yaml` and `promtool test rules
# infra/prometheus/alerts.test.yaml`. Installs promtool and the Prometheus server first
# when they are missing (the server is for the real-Prometheus test,
# apps/reconciler/test/Prometheus.test.ts).
#
#   bash infra/dev/promtool.sh                    checks and tests the rules
#   bash infra/dev/promtool.sh --which prometheus installs when needed, prints the binary's path
#   bash infra/dev/promtool.sh --which promtool   likewise
#
# Where the binaries come from, in order: $PROMTOOL / $PROMETHEUS; the copies in the
# cache folder ($RECONCILER_CACHE/prometheus); `promtool` / `prometheus` on PATH; else
# the host distribution's packages, fetched with `apt-get download` and unpacked with
# `dpkg-deb` into the cache folder (only usr/bin/prometheus and usr/bin/promtool are
# kept): `prometheus` (Debian 12 and Ubuntu ship promtool in it too) and, where promtool
# has a package of its own (newer Debian, e.g. sid), `promtool`. Nothing is installed on
# the host and no dpkg state changes, so it works without root whenever apt's package
# lists are there; as root it runs `apt-get update` first when they are missing or stale.
# The server runs without its web assets (the packages' other dependencies): the tests
# use only its HTTP API.
#
# Why not the Synapse sid root: it exists only where infra/dev/synapse.sh ran (not on
# the Docker path, nor for a developer with their own services), installing into it
# needs root, chroot and an `apt-get update` of sid, and Debian's builds are not static
# binaries (they link glibc), so a sid build is not sure to run on the host. The host's
# own package always matches the host's libc. The rules and tests pass with Prometheus
# 2.42 (Debian 12) and 3.5 (sid).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="$CACHE_DIR/prometheus"

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

install_tools() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    die "Prometheus is missing and there is no apt-get/dpkg-deb to fetch it: install prometheus and promtool and put them on PATH, or set PROMETHEUS and PROMTOOL"
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  download() {  # download PACKAGE: its .deb into $tmp
    (cd "$tmp" && apt-get download -q "$1") >>"$tmp/apt.log" 2>&1
  }
  log "fetching Prometheus: apt-get download prometheus"
  if ! download prometheus; then
    if [ "$(id -u)" -eq 0 ]; then
      log "apt-get update (the package lists are missing or stale), then again"
      apt-get update -q >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; die "apt-get update failed"; }
      download prometheus || {
        cat "$tmp/apt.log" >&2
        die "apt-get download prometheus failed (is the distribution's archive reachable?); or set PROMETHEUS and PROMTOOL"
      }
    else
      cat "$tmp/apt.log" >&2
      die "apt-get download prometheus failed; run 'apt-get update' as root (or this script as root), or set PROMETHEUS and PROMTOOL"
    fi
  fi
  mkdir -p "$tmp/x"
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp/x" --wildcards './usr/bin/prom*' ||
    die "could not unpack usr/bin from $(basename "$tmp"/prometheus_*.deb)"
  if [ ! -e "$tmp/x/usr/bin/promtool" ]; then
    # Newer Debian releases ship promtool in a package of its own.
    log "fetching promtool: apt-get download promtool"
    download promtool || { cat "$tmp/apt.log" >&2; die "apt-get download promtool failed; or set PROMTOOL"; }
    dpkg-deb --fsys-tarfile "$tmp"/promtool_*.deb | tar -x -C "$tmp/x" ./usr/bin/promtool ||
      die "could not unpack usr/bin/promtool from $(basename "$tmp"/promtool_*.deb)"
  fi
  local tool
  for tool in prometheus promtool; do
    works "$tmp/x/usr/bin/$tool" || die "the $tool from Debian's packages does not run on this machine"
  done
  rm -rf "$DIR.part" && mkdir -p "$DIR.part"
  mv "$tmp/x/usr/bin/prometheus" "$tmp/x/usr/bin/promtool" "$DIR.part/"
  (cd "$tmp" && ls ./*.deb) >"$DIR.part/FROM"
  rm -rf "$DIR" && mv "$DIR.part" "$DIR"
  rm -rf "$CACHE_DIR/promtool" # the cache folder of earlier versions of this script (promtool only)
  log "installed $("$DIR/prometheus" --version 2>&1 | head -1) and promtool into $DIR"
}

# tool NAME OVERRIDE: the path of a working binary, installing both when needed.
tool() {
  local name=$1 override=$2
  if [ -n "$override" ]; then
    works "$override" || die "${name^^}=$override does not run"
    echo "$override"
  elif works "$DIR/$name"; then
    echo "$DIR/$name"
  elif command -v "$name" >/dev/null && works "$(command -v "$name")"; then
    command -v "$name"
  else
    install_tools
    echo "$DIR/$name"
  fi
}

if [ "${1:-}" = "--which" ]; then
  case "${2:-}" in
    prometheus) tool prometheus "${PROMETHEUS:-}" ;;
    promtool) tool promtool "${PROMTOOL:-}" ;;
    *) die "--which prometheus|promtool" ;;
  esac
  exit 0
fi

promtool=$(tool promtool "${PROMTOOL:-}")
# The server too, so that the test suite finds it installed (one apt-get download for both).
tool prometheus "${PROMETHEUS:-}" >/dev/null

cd "$REPO_DIR"
log "$("$promtool" --version 2>&1 | head -1)"
"$promtool" check rules infra/prometheus/alerts.yaml
"$promtool" test rules infra/prometheus/alerts.test.yaml

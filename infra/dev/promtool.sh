#!/usr/bin/env bash
# infra/dev/promtool.sh -- checks the Prometheus alerting rules and runs their unit
# tests: `promtool check rules infra/prometheus/alerts.yaml` and `promtool test rules
# infra/prometheus/alerts.test.yaml`. Installs promtool first when it is missing.
#
# Where promtool comes from, in order: $PROMTOOL; the copy in the cache folder
# ($RECONCILER_CACHE/promtool); a `promtool` on PATH; else the host distribution's
# package `promtool` (newer Debian, e.g. sid, ships it on its own) or `prometheus`
# (Debian 12, Ubuntu), fetched with `apt-get download` and unpacked with `dpkg-deb`
# into the cache folder (only usr/bin/promtool is kept). Nothing is installed on the
# host and no dpkg state changes, so it works without root whenever apt's package lists
# are there; as root it runs `apt-get update` first when they are missing or stale.
#
# Why not the Synapse sid root: it exists only where infra/dev/synapse.sh ran (not on
# the Docker path, nor for a developer with their own services), installing into it
# needs root, chroot and an `apt-get update` of sid, and Debian's promtool is not a
# static binary (it links glibc), so a sid build is not sure to run on the host. The
# host's own package always matches the host's libc. The rules and tests pass with
# promtool 2.42 (Debian 12) and 3.5 (sid).
#
# Env (optional): PROMTOOL   a promtool binary to use instead
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="$CACHE_DIR/promtool"
CACHED="$DIR/promtool"

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

install_promtool() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    die "promtool is missing and there is no apt-get/dpkg-deb to fetch it: install promtool (Prometheus) and put it on PATH, or set PROMTOOL"
  local tmp deb=
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  # Newer Debian releases ship promtool in a package of its own; older ones in prometheus.
  download() {
    local package
    for package in promtool prometheus; do
      if (cd "$tmp" && apt-get download -q "$package") >>"$tmp/apt.log" 2>&1; then
        deb=$(ls "$tmp/${package}"_*.deb) && return 0
      fi
    done
    return 1
  }
  log "fetching promtool: apt-get download promtool (or prometheus)"
  if ! download; then
    if [ "$(id -u)" -eq 0 ]; then
      log "apt-get update (the package lists are missing or stale), then again"
      apt-get update -q >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; die "apt-get update failed"; }
      download || {
        cat "$tmp/apt.log" >&2
        die "apt-get download promtool/prometheus failed (is the distribution's archive reachable?); or set PROMTOOL to a promtool binary"
      }
    else
      cat "$tmp/apt.log" >&2
      die "apt-get download promtool/prometheus failed; run 'apt-get update' as root (or this script as root), or set PROMTOOL to a promtool binary"
    fi
  fi
  mkdir -p "$tmp/x"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" ./usr/bin/promtool ||
    die "could not unpack usr/bin/promtool from $(basename "$deb")"
  works "$tmp/x/usr/bin/promtool" || die "the promtool from $(basename "$deb") does not run on this machine"
  rm -rf "$DIR.part" && mkdir -p "$DIR.part"
  mv "$tmp/x/usr/bin/promtool" "$DIR.part/promtool"
  basename "$deb" >"$DIR.part/FROM"
  rm -rf "$DIR" && mv "$DIR.part" "$DIR"
  log "installed $("$CACHED" --version 2>&1 | head -1) into $DIR"
}

if [ -n "${PROMTOOL:-}" ]; then
  works "$PROMTOOL" || die "PROMTOOL=$PROMTOOL does not run"
  promtool=$PROMTOOL
elif works "$CACHED"; then
  promtool=$CACHED
elif command -v promtool >/dev/null && works "$(command -v promtool)"; then
  promtool=$(command -v promtool)
else
  install_promtool
  promtool=$CACHED
fi

cd "$REPO_DIR"
log "$("$promtool" --version 2>&1 | head -1)"
"$promtool" check rules infra/prometheus/alerts.yaml
"$promtool" test rules infra/prometheus/alerts.test.yaml

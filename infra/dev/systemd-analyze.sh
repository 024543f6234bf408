#!/usr/bin/env bash
# infra/dev/systemd-analyze.sh -- prints the path of systemd-analyze, for the unit file's
# checks (apps/reconciler/test/Systemd.test.ts). When it is missing and this runs as root,
# installs Debian's `systemd` package, which only adds files: it does not become the init
# system of a running machine or container. Otherwise exits 3 with the reason on stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v systemd-analyze >/dev/null; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "systemd-analyze is not installed, and installing Debian's systemd package needs root and apt-get" >&2
    exit 3
  fi
  apt_install systemd
fi
command -v systemd-analyze

#!/usr/bin/env bash
# infra/dev/systemd-analyze.sh -- prints the path of systemd-analyze (or, with --strace, of
# strace), for the unit file's checks (apps/reconciler/test/Systemd.test.ts). When it is
# missing and this runs as root, installs Debian's package (`systemd`, `strace`); the
# systemd package only adds files: it does not become the init system of a running
# machine or container. Otherwise exits 3 with the reason on stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tool=systemd-analyze package=systemd
if [ "${1:-}" = "--strace" ]; then tool=strace package=strace; fi
if ! command -v "$tool" >/dev/null; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "$tool is not installed, and installing Debian's $package package needs root and apt-get" >&2
    exit 3
  fi
  apt_install "$package"
fi
command -v "$tool"

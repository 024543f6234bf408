#!/usr/bin/env bash
# infra/systemd/install.sh -- installs (or upgrades) the reconciler as a systemd service on a
# Debian host, from a checkout of the release to install. As root:
#   bash infra/systemd/install.sh
# Puts the application in $PREFIX (default /opt/openmeet-reconciler): the same files and the
# same production-only `pnpm install` as the image's deps stage (read from the Dockerfile),
# Node 22 (the one infra/dev/toolchain.sh provides) and wait-ready.ts; the unit in
# $UNIT_DIR (default /etc/systemd/system); an example reconciler.env in $ETC_DIR (default
# /etc/openmeet-reconciler) unless one is there. The previous application is kept in
# $PREFIX.previous for a rollback (docs/deploy.md "Upgrade and rollback").
# Env (optional): PREFIX, UNIT_DIR, ETC_DIR, PNPM_FLAGS (e.g. --offline)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/toolchain.sh"

PREFIX=${PREFIX:-/opt/openmeet-reconciler}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
ETC_DIR=${ETC_DIR:-/etc/openmeet-reconciler}
cd "$REPO_DIR"

# The deps stage of the Dockerfile: its COPY sources (each copied to the same path) and its
# pnpm install. One list for the image and the host.
stage=$PREFIX.new
rm -rf "$stage" && mkdir -p "$stage"
awk '/^FROM /{n++} n==1 && /^COPY / && !/--from/ {for (i = 2; i < NF; i++) print $i}' Dockerfile |
  while read -r source; do
    mkdir -p "$stage/$(dirname "$source")"
    cp -R "$source" "$stage/$source"
  done
install_command=$(awk '/^FROM /{n++} n==1 && /^RUN pnpm install/ {sub(/^RUN /, ""); print}' Dockerfile)
[ -n "$install_command" ] || die "no 'RUN pnpm install' in the Dockerfile's first stage"
log "installing production dependencies into $stage"
# shellcheck disable=SC2086
(cd "$stage" && eval "$install_command ${PNPM_FLAGS:-} --reporter=silent")
mkdir -p "$stage/infra/systemd" "$stage/docs" "$stage/node/bin"
cp infra/systemd/wait-ready.ts "$stage/infra/systemd/"
cp docs/deploy.md "$stage/docs/"
cp "$(readlink -f "$(command -v node)")" "$stage/node/bin/node"
chmod -R u+rwX,go+rX,go-w "$stage"

if [ -d "$PREFIX" ]; then rm -rf "$PREFIX.previous" && mv "$PREFIX" "$PREFIX.previous"; fi
mv "$stage" "$PREFIX"
log "installed into $PREFIX (Node $("$PREFIX/node/bin/node" --version))"

mkdir -p "$UNIT_DIR"
sed "s#/opt/openmeet-reconciler#$PREFIX#g" infra/systemd/openmeet-reconciler.service >"$UNIT_DIR/openmeet-reconciler.service"
chmod 0644 "$UNIT_DIR/openmeet-reconciler.service"
mkdir -p "$ETC_DIR" && chmod 0700 "$ETC_DIR"
if [ ! -e "$ETC_DIR/reconciler.env" ]; then
  install -m 0600 infra/systemd/reconciler.env "$ETC_DIR/reconciler.env"
  log "wrote an example $ETC_DIR/reconciler.env: put your settings in it"
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
log "next: edit $ETC_DIR/reconciler.env, write $ETC_DIR/registration.yaml (reconciler registration),"
log "      then: systemctl enable --now openmeet-reconciler   (docs/deploy.md \"systemd\")"

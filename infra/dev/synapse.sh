#!/usr/bin/env bash
# infra/dev/synapse.sh install|start|stop|status|env -- a real Synapse on loopback,
# without Docker.
#
# Debian packages matrix-synapse only in sid, so `install` debootstraps a minimal
# sid root into the cache folder and installs the package there; nothing from sid
# touches the host. `start` runs the homeserver from that root with SQLite (or,
# with SYNAPSE_DATABASE=postgres, a PostgreSQL database of its own), a generated
# config, relaxed rate limits and an appservice registration for the
# reconciler, then waits until it answers.
#
# Env (all optional):
#   SYNAPSE_ROOT        the sid root               ($RECONCILER_CACHE/synapse-root)
#   SYNAPSE_DATA_DIR    config, database, logs     ($RECONCILER_STATE/synapse)
#   SYNAPSE_PORT        client API on 127.0.0.1    (18008)
#   SYNAPSE_SERVER_NAME server_name                (openmeet.test)
#   APPSERVICE_PORT     where Synapse pushes transactions to the reconciler (18009)
#   SYNAPSE_MIRROR      Debian mirror for the sid root (http://deb.debian.org/debian)
#   SYNAPSE_FRESH=1     `start` begins with an empty homeserver (stops a running one first)
#   SYNAPSE_DATABASE    sqlite (the tests' default) or postgres (the benchmarks: as in production)
#   SYNAPSE_PG_HOST / SYNAPSE_PG_PORT / SYNAPSE_PG_USER   the PostgreSQL server (127.0.0.1, $PG_PORT
#                       or 55432, postgres; trust authentication, like infra/dev/postgres.sh)
#   SYNAPSE_PG_DATABASE its database, created UTF8 with C collation   (synapse_$SYNAPSE_PORT)
#   SYNAPSE_RATE_LIMITS=synapse   Synapse's default rate limits instead of relaxed ones
#   APPSERVICE_RATE_LIMITED=true  the registration's rate_limited (default false)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(realpath -m "${SYNAPSE_ROOT:-$CACHE_DIR/synapse-root}")
DATA=$(realpath -m "${SYNAPSE_DATA_DIR:-$STATE_DIR/synapse}")
PORT=${SYNAPSE_PORT:-18008}
SERVER_NAME=${SYNAPSE_SERVER_NAME:-openmeet.test}
AS_PORT=${APPSERVICE_PORT:-18009}
MIRROR=${SYNAPSE_MIRROR:-http://deb.debian.org/debian}
URL="http://127.0.0.1:$PORT"
MARKER="$ROOT/.openmeet-reconciler-synapse"
DATABASE=${SYNAPSE_DATABASE:-sqlite}
case "$DATABASE" in sqlite | postgres) ;; *) die "SYNAPSE_DATABASE must be sqlite or postgres, not $DATABASE" ;; esac
export SYNAPSE_PG_HOST=${SYNAPSE_PG_HOST:-127.0.0.1} SYNAPSE_PG_PORT=${SYNAPSE_PG_PORT:-${PG_PORT:-55432}}
export SYNAPSE_PG_USER=${SYNAPSE_PG_USER:-postgres} SYNAPSE_PG_DATABASE=${SYNAPSE_PG_DATABASE:-synapse_$PORT}
# Inside the root the data folder is bind-mounted here (one path per instance).
INNER=/srv/synapse-$PORT

CHROOT_ENV=(/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8
  HOME=/root DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true PYTHONDONTWRITEBYTECODE=1)

installed() { [ -f "$MARKER" ] && [ -f "$ROOT/usr/lib/python3/dist-packages/synapse/__init__.py" ]; }

mount_proc() { mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"; }

cmd_install() {
  if installed; then log "installed: $(cat "$MARKER")"; return 0; fi
  need_root "installing Synapse"
  apt_install debootstrap debian-archive-keyring ca-certificates curl
  if [ ! -x "$ROOT/usr/bin/apt-get" ] || [ -d "$ROOT/debootstrap" ]; then
    if [ -d "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; then
      # Only an unfinished debootstrap is removed; anything else is not ours.
      [ -d "$ROOT/debootstrap" ] || die "$ROOT is not empty and not a debootstrap root; remove it or set SYNAPSE_ROOT"
      awk -v r="$ROOT/" 'index($2, r) == 1 { exit 1 }' /proc/self/mounts || die "something is mounted below $ROOT"
      rm -rf --one-file-system "$ROOT"
    fi
    mkdir -p "$(dirname "$ROOT")"
    log "debootstrap sid (minbase) into $ROOT (about a minute)"
    debootstrap --variant=minbase sid "$ROOT" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 ||
      { tail -20 "$CACHE_DIR/debootstrap.log" >&2; die "debootstrap failed, log: $CACHE_DIR/debootstrap.log"; }
  fi
  # never start services inside the root; give apt DNS; answer debconf up front
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"; chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  printf '%s\n' 'matrix-synapse matrix-synapse/server-name string localhost' \
    'matrix-synapse matrix-synapse/report-stats boolean false' |
    chroot "$ROOT" /usr/bin/debconf-set-selections
  mount_proc
  log "apt-get install matrix-synapse inside the root (about two minutes)"
  # A mirror may serve a sid snapshot whose Release file has expired.
  chroot "$ROOT" "${CHROOT_ENV[@]}" apt-get -q update >/dev/null 2>&1 ||
    chroot "$ROOT" "${CHROOT_ENV[@]}" apt-get -q -o Acquire::Check-Valid-Until=false update >/dev/null ||
    die "apt-get update failed inside $ROOT"
  chroot "$ROOT" "${CHROOT_ENV[@]}" apt-get install -y -q --no-install-recommends matrix-synapse \
    >"$CACHE_DIR/synapse-apt.log" 2>&1 ||
    { tail -20 "$CACHE_DIR/synapse-apt.log" >&2; die "installing matrix-synapse failed, log: $CACHE_DIR/synapse-apt.log"; }
  chroot "$ROOT" "${CHROOT_ENV[@]}" apt-get clean
  find "$ROOT/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
  local version
  version=$(chroot "$ROOT" /usr/bin/python3 -c 'import synapse; print(synapse.__version__)') ||
    die "synapse does not import inside $ROOT"
  echo "matrix-synapse $version (Debian sid), installed $(date -u +%FT%TZ)" >"$MARKER"
  log "installed: $(cat "$MARKER")"
}

pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$SYNAPSE_PG_HOST" -p "$SYNAPSE_PG_PORT" -U "$SYNAPSE_PG_USER" -d postgres "$@"; }

# Synapse refuses a database whose collation is not C (it sorts by byte order).
ensure_pg_database() {
  command -v psql >/dev/null || die "psql is needed for SYNAPSE_DATABASE=postgres (infra/dev/postgres.sh installs it)"
  [[ "$SYNAPSE_PG_DATABASE" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SYNAPSE_PG_DATABASE must be a plain lower-case name"
  if [ -n "${SYNAPSE_FRESH:-}" ]; then
    pg -c "DROP DATABASE IF EXISTS $SYNAPSE_PG_DATABASE" || die "cannot drop $SYNAPSE_PG_DATABASE"
  fi
  if [ -z "$(pg -At -c "SELECT 1 FROM pg_database WHERE datname = '$SYNAPSE_PG_DATABASE'")" ]; then
    pg -c "CREATE DATABASE $SYNAPSE_PG_DATABASE ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" ||
      die "cannot create the PostgreSQL database $SYNAPSE_PG_DATABASE"
    log "created PostgreSQL database $SYNAPSE_PG_DATABASE"
  fi
}

running_pid() {
  local pid
  pid=$(cat "$DATA/synapse.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "synapse.app.homeserver -c $INNER/homeserver.yaml" || return 1
  echo "$pid"
}

write_config() {
  mkdir -p "$DATA/media_store"
  umask 077
  if [ ! -f "$DATA/secrets.env" ]; then
    cat >"$DATA/secrets.env" <<SECRETS
AS_TOKEN=$(rand_hex)
HS_TOKEN=$(rand_hex)
REGISTRATION_SECRET=$(rand_hex)
SECRETS
  fi
  umask 022
  # One generator for every test homeserver (here, in containers, in infra/compose).
  # shellcheck disable=SC1091
  (set -a && source "$DATA/secrets.env" && source "$REPO_DIR/infra/dev/toolchain.sh" &&
    SERVER_NAME=$SERVER_NAME PORT=$PORT INNER=$INNER AS_PORT=$AS_PORT SYNAPSE_DATABASE=$DATABASE node "$REPO_DIR/infra/dev/synapse-config.ts" "$DATA") ||
    die "could not write the Synapse configuration"
}

write_env() {
  # shellcheck disable=SC1091
  source "$DATA/secrets.env"
  umask 077
  cat >"$DATA/synapse.env" <<ENV
MATRIX_HOMESERVER_URL=$URL
MATRIX_SERVER_NAME=$SERVER_NAME
APPSERVICE_REGISTRATION=$DATA/registration.yaml
APPSERVICE_PORT=$AS_PORT
SYNAPSE_REGISTRATION_SECRET=$REGISTRATION_SECRET
ENV
  umask 022
}

cmd_start() {
  installed || cmd_install
  need_root "starting Synapse (chroot)"
  if [ -n "${SYNAPSE_FRESH:-}" ]; then
    cmd_stop
    rm -f "$DATA"/homeserver.db* && rm -rf "$DATA/media_store"
    log "fresh homeserver: database wiped (a PostgreSQL one is dropped below)"
  fi
  if pid=$(running_pid); then write_env; log "already running (pid $pid) at $URL"; cat "$DATA/synapse.env"; return 0; fi
  if curl -s -o /dev/null -m 2 "$URL/_matrix/client/versions"; then
    die "something else answers on $URL; stop it or set SYNAPSE_PORT"
  fi
  if [ "$DATABASE" = postgres ]; then ensure_pg_database; fi
  mkdir -p "$DATA" "$ROOT$INNER"
  mount_proc
  # A mount left from an earlier boot can still sit there while its folder is gone (a wiped
  # /tmp): the same inode on both sides says the bind is ours, anything else is remounted.
  if [ "$(stat -c %d:%i "$DATA")" != "$(stat -c %d:%i "$ROOT$INNER")" ]; then
    if mountpoint -q "$ROOT$INNER"; then
      log "stale mount at $ROOT$INNER (not $DATA): remounting"
      umount "$ROOT$INNER" || umount -l "$ROOT$INNER" || die "cannot unmount the stale $ROOT$INNER"
    fi
    mount --bind "$DATA" "$ROOT$INNER" || die "cannot bind-mount $DATA at $ROOT$INNER"
  fi
  write_config
  local ch=(chroot "$ROOT" "${CHROOT_ENV[@]}" /usr/bin/python3 -m synapse.app.homeserver -c "$INNER/homeserver.yaml")
  if [ ! -s "$DATA/signing.key" ]; then
    "${ch[@]}" --generate-keys >"$DATA/generate-keys.log" 2>&1 ||
      { cat "$DATA/generate-keys.log" >&2; die "Synapse rejected its config"; }
  fi
  (cd / && exec setsid "${ch[@]}" >>"$DATA/stdout.log" 2>&1 </dev/null) &
  echo $! >"$DATA/synapse.pid"
  if ! wait_for "Synapse at $URL" "${SYNAPSE_START_TIMEOUT:-120}" curl -fs -m 2 "$URL/_matrix/client/versions"; then
    tail -n 30 "$DATA/stdout.log" "$DATA/homeserver.log" >&2 2>/dev/null || true
    die "Synapse did not answer within ${SYNAPSE_START_TIMEOUT:-120}s (logs in $DATA)"
  fi
  write_env
  cat "$DATA/synapse.env"
}

cmd_stop() {
  if pid=$(running_pid); then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "stopped Synapse (pid $pid)"
  else
    log "Synapse is not running"
  fi
  rm -f "$DATA/synapse.pid"
  if mountpoint -q "$ROOT$INNER" 2>/dev/null; then umount "$ROOT$INNER" || umount -l "$ROOT$INNER"; fi
  # /proc goes only when no other instance still runs in the root.
  if mountpoint -q "$ROOT/proc" 2>/dev/null; then
    local p busy=
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && { busy=1; break; }
    done
    [ -n "$busy" ] || umount "$ROOT/proc" || umount -l "$ROOT/proc" || true
  fi
}

cmd_status() {
  if pid=$(running_pid); then log "running (pid $pid) at $URL"; else log "not running"; return 1; fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cat "$DATA/synapse.env" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac

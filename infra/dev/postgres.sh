#!/usr/bin/env bash
# infra/dev/postgres.sh install|start|stop|status|env -- a PostgreSQL cluster of
# the project's own: Debian's server packages, its own data folder and port,
# loopback only, trust authentication (a throwaway test cluster).
#
# Env (all optional):
#   PG_PORT      port on 127.0.0.1                 (55432)
#   PG_DATA_DIR  the cluster                       ($RECONCILER_STATE/postgres)
#   PG_DATABASE  database created for OpenMeet     (openmeet)
#   PG_FRESH=1   `start` drops and re-creates that database
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${PG_PORT:-55432}
DATA=$(realpath -m "${PG_DATA_DIR:-$STATE_DIR/postgres}")
DB=${PG_DATABASE:-openmeet}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] || return 1
  echo "$d"
}

# The server refuses to run as root: when we are root, run it as `postgres`.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cmd_install() {
  pg_bin >/dev/null && return 0
  apt_install postgresql postgresql-contrib
  pg_bin >/dev/null || die "PostgreSQL server binaries not found after install"
}

ready() { as_pg "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }

cmd_start() {
  cmd_install
  local bin; bin=$(pg_bin)
  if [ ! -s "$DATA/PG_VERSION" ]; then
    log "initdb $DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$DATA"
    chmod 700 "$DATA"
    as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DATA.initdb.log" 2>&1 ||
      { cat "$DATA.initdb.log" >&2; die "initdb failed"; }
  fi
  if ! ready; then
    as_pg "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start \
      -o "-h 127.0.0.1 -p $PORT -k $DATA -c max_connections=200 -c fsync=off -c synchronous_commit=off" >/dev/null ||
      { tail -n 20 "$DATA/server.log" >&2; die "PostgreSQL did not start (log: $DATA/server.log)"; }
  fi
  wait_for "PostgreSQL on 127.0.0.1:$PORT" 30 ready || die "PostgreSQL not ready"
  local psql=(as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  if [ -n "${PG_FRESH:-}" ]; then
    "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)"
    log "fresh database $DB"
  fi
  if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE \"$DB\""
  fi
  cat >"$STATE_DIR/postgres.env" <<ENV
DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/$DB
PG_ADMIN_URL=postgres://postgres@127.0.0.1:$PORT/postgres
ENV
  cat "$STATE_DIR/postgres.env"
}

cmd_stop() {
  local bin; bin=$(pg_bin) || { log "PostgreSQL is not installed"; return 0; }
  if [ -s "$DATA/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null && log "stopped PostgreSQL"
  else
    log "PostgreSQL is not running"
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) ready && log "running on 127.0.0.1:$PORT" ;;
  env) cat "$STATE_DIR/postgres.env" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac

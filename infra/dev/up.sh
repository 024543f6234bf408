#!/usr/bin/env bash
# infra/dev/up.sh -- installs what is missing and starts PostgreSQL and Synapse on
# loopback; writes the settings the reconciler and its tests read to
# $RECONCILER_STATE/services.env (source it, or let scripts/ do it).
# Services you run yourself win: when DATABASE_URL and MATRIX_HOMESERVER_URL (with
# APPSERVICE_REGISTRATION) are already set, nothing is started.
# RECONCILER_FRESH=1 starts from an empty homeserver and an empty PG_DATABASE.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(dirname "${BASH_SOURCE[0]}")
mkdir -p "$STATE_DIR"
out="$STATE_DIR/services.env"
if [ -n "${DATABASE_URL:-}" ] && [ -n "${MATRIX_HOMESERVER_URL:-}" ] && [ -n "${APPSERVICE_REGISTRATION:-}" ]; then
  log "using the services in the environment (DATABASE_URL, MATRIX_HOMESERVER_URL)"
  : >"$out"
  exit 0
fi
fresh=${RECONCILER_FRESH:-}
PG_FRESH=$fresh "$here/postgres.sh" start >/dev/null
SYNAPSE_FRESH=$fresh "$here/synapse.sh" start >/dev/null
umask 077
{
  "$here/postgres.sh" env
  "$here/synapse.sh" env
} | sed 's/^/export /' >"$out"
log "services up; settings in $out"

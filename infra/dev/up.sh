#!/usr/bin/env bash
# infra/dev/up.sh -- installs what is missing and starts PostgreSQL and Synapse on
# loopback; writes the settings the reconciler and its tests read to
# $RECONCILER_STATE/services.env (source it, or let scripts/ do it).
# Services you run yourself win: when DATABASE_URL and MATRIX_HOMESERVER_URL (with
# APPSERVICE_REGISTRATION) are already set, nothing is started.
# RECONCILER_FRESH=1 starts from an empty homeserver and an empty PG_DATABASE.
# RECONCILER_SECOND_HOMESERVER=1 also starts a second Synapse (server name other.test,
# 127.0.0.1:18010) for tests of tenants on different servers (MATRIX2_* settings).
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
second=()
if [ -n "${RECONCILER_SECOND_HOMESERVER:-}" ]; then
  # A second homeserver with another server name, for tenants on different servers.
  second=(env SYNAPSE_DATA_DIR="$STATE_DIR/synapse2" SYNAPSE_PORT=18010 SYNAPSE_SERVER_NAME=other.test APPSERVICE_PORT=18011)
  SYNAPSE_FRESH=$fresh "${second[@]}" "$here/synapse.sh" start >/dev/null
fi
umask 077
{
  "$here/postgres.sh" env
  "$here/synapse.sh" env
  if [ ${#second[@]} -gt 0 ]; then
    "${second[@]}" "$here/synapse.sh" env | sed 's/^MATRIX_/MATRIX2_/; s/^APPSERVICE_/APPSERVICE2_/; s/^SYNAPSE_/SYNAPSE2_/'
  fi
} | sed 's/^/export /' >"$out"
log "services up; settings in $out"

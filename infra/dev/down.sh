#!/usr/bin/env bash
# infra/dev/down.sh -- stops the local PostgreSQL and Synapse (data is kept;
# RECONCILER_STATE holds it, delete the folder for a fresh start).
here=$(dirname "${BASH_SOURCE[0]}")
"$here/synapse.sh" stop
source "$here/lib.sh"
if [ -d "$STATE_DIR/synapse2" ]; then SYNAPSE_DATA_DIR="$STATE_DIR/synapse2" SYNAPSE_PORT=18010 "$here/synapse.sh" stop; fi
"$here/postgres.sh" stop

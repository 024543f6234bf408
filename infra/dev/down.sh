#!/usr/bin/env bash
# infra/dev/down.sh -- stops the local PostgreSQL and Synapse (data is kept;
# RECONCILER_STATE holds it, delete the folder for a fresh start).
here=$(dirname "${BASH_SOURCE[0]}")
"$here/synapse.sh" stop
"$here/postgres.sh" stop

#!/usr/bin/env bash
# Benchmarks against real PostgreSQL and a Synapse on PostgreSQL (as production runs it):
#   pnpm bench [--quick] [planner|economy|apply|convergence|footprint|footprint-10k ...]
#   pnpm bench -- soak [minutes] [changes/s]   (default: 30, 2; apps/reconciler/dev/soak.ts)
# Each scenario writes bench/results/<scenario>.json; docs/benchmarks.md's tables are then
# regenerated from them (apps/reconciler/dev/bench/). `--quick` takes minutes; the full run
# makes 2,000 rooms in Synapse and takes about an hour on a 2-core machine.
#
# The Synapse is the benchmarks' own, fresh each run (SYNAPSE_DATABASE=postgres, database
# BENCH_SYNAPSE_PG_DATABASE, data $RECONCILER_STATE/synapse-bench, client API on
# BENCH_SYNAPSE_PORT, transactions to BENCH_APPSERVICE_PORT); it is left running. OpenMeet's
# database is DATABASE_URL when set, else infra/dev/postgres.sh's (PG_DATABASE openmeet_bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
pnpm install --frozen-lockfile --reporter=silent
source infra/dev/lib.sh
if [ -z "${DATABASE_URL:-}" ]; then
  PG_DATABASE=openmeet_bench bash infra/dev/postgres.sh start >/dev/null
  # shellcheck disable=SC1091
  set -a && source "$STATE_DIR/postgres.env" && set +a
fi
bench_synapse=(env SYNAPSE_DATABASE=postgres SYNAPSE_FRESH=1
  SYNAPSE_PORT="${BENCH_SYNAPSE_PORT:-18030}" APPSERVICE_PORT="${BENCH_APPSERVICE_PORT:-18031}"
  SYNAPSE_DATA_DIR="$STATE_DIR/synapse-bench" SYNAPSE_PG_DATABASE="${BENCH_SYNAPSE_PG_DATABASE:-synapse_bench}")
"${bench_synapse[@]}" bash infra/dev/synapse.sh start >/dev/null
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/synapse-bench/synapse.env"
set +a
cd apps/reconciler
[ "${1:-}" != -- ] || shift
if [ "${1:-}" = soak ]; then
  # 30 minutes of database changes and human-made drift against the daemon (docs/reliability.md).
  shift
  exec node dev/soak.ts "$@"
fi
node dev/bench/main.ts "$@"
cd ../..
# The results and tables as the formatter writes them (pnpm lint checks them).
pnpm exec biome format --write bench/results docs/benchmarks.md >/dev/null

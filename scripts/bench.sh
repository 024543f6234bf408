#!/usr/bin/env bash
# Benchmarks against real PostgreSQL and Synapse (started like the tests', fresh):
#   bash scripts/bench.sh [events ...]     (default: 100 400)
#   bash scripts/bench.sh soak [minutes] [changes/s]   (default: 30, 2; dev/soak.ts)
# Prints a Markdown table of timings, then the daemon's footprint (dev/footprint.ts);
# docs/benchmarks.md keeps the measured numbers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
pnpm install --frozen-lockfile --reporter=silent
RECONCILER_FRESH=1 PG_DATABASE=openmeet_bench bash infra/dev/up.sh
# shellcheck disable=SC1091
source "$STATE_DIR/services.env"
cd apps/reconciler
if [ "${1:-}" = soak ]; then
  # pnpm bench -- soak [minutes] [changes per second]: 30 minutes of changes (dev/soak.ts).
  shift
  exec node dev/soak.ts "$@"
fi
node dev/bench.ts "$@"
# The daemon's memory and CPU while it creates the rooms of a tenant, then idles.
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 400)
for events in "${sizes[@]}"; do node dev/footprint.ts "$events"; done

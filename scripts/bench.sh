#!/usr/bin/env bash
# Benchmarks against real PostgreSQL and Synapse (started like the tests', fresh):
#   bash scripts/bench.sh [events ...]     (default: 100 400)
# Prints a Markdown table of timings; docs/benchmarks.md keeps the measured numbers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
pnpm install --frozen-lockfile --reporter=silent
RECONCILER_FRESH=1 PG_DATABASE=openmeet_bench bash infra/dev/up.sh
# shellcheck disable=SC1091
source "$STATE_DIR/services.env"
cd apps/reconciler
node dev/bench.ts "$@"

#!/usr/bin/env bash
# The whole test suite, from a clean checkout on a Debian machine with Node.js and apt:
# installs Node >= 22 and pnpm when missing, the dependencies, PostgreSQL and Synapse
# (first run: a few minutes), starts them fresh on loopback, then runs the type check,
# the linter and every test (unit, property and integration), and prints one total.
# Idempotent. Point DATABASE_URL, MATRIX_HOMESERVER_URL and APPSERVICE_REGISTRATION at
# your own services to skip the local ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1 DO_NOT_TRACK=1

log "installing dependencies"
pnpm install --frozen-lockfile --reporter=silent

if [ -z "${DATABASE_URL:-}" ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  # A Docker engine: the tests start PostgreSQL and Synapse in containers (testcontainers).
  log "Docker engine found: services run in containers"
  export RECONCILER_TESTCONTAINERS=1
else
  RECONCILER_FRESH=1 RECONCILER_SECOND_HOMESERVER=1 PG_DATABASE=${PG_DATABASE:-openmeet_test} bash infra/dev/up.sh
  # shellcheck disable=SC1091
  source "$STATE_DIR/services.env"
fi

log "type check"
pnpm --silent typecheck
log "lint"
pnpm --silent lint
log "alert rules (promtool)"
bash infra/dev/promtool.sh

packages=(packages/core packages/observability packages/openmeet packages/matrix packages/engine apps/reconciler infra)
for dir in "${packages[@]}"; do rm -rf "$dir/.vitest"; done
rm -rf .reliability
status=0
pnpm --silent test || status=$?
node scripts/test-summary.ts "${packages[@]}" || status=1
# The chaos suite's table in docs/reliability.md must be what this run produced; its
# figures (durations, request counts) are rewritten, never compared.
node scripts/reliability.ts --check --figures || status=1
exit $status

#!/usr/bin/env bash
# The demo, from a clean checkout on a Debian machine with Node.js and apt: installs
# what it needs, starts PostgreSQL and a fresh Synapse on loopback, seeds an
# OpenMeet-shaped database, and runs a real reconcile you can watch:
#   plan → apply → plan (nothing to do) → changes in OpenMeet → plan → apply → plan.
# Idempotent: every run starts from a fresh homeserver and a freshly seeded database.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
export TURBO_TELEMETRY_DISABLED=1

step() { printf '\n\033[1m━━ %s\033[0m\n' "$*"; }
reconciler() { printf '\033[2m$ reconciler %s\033[0m\n' "$*" >&2; node apps/reconciler/src/main.ts "$@"; }

step "Installing dependencies and starting PostgreSQL and Synapse (the first run takes a few minutes)"
pnpm install --frozen-lockfile --reporter=silent
RECONCILER_FRESH=1 PG_DATABASE=openmeet_demo bash infra/dev/up.sh
# shellcheck disable=SC1091
source "$STATE_DIR/services.env"
# OpenMeet's own tenant format: base64 of a JSON list of tenants.
TENANTS_B64=$(printf '[{"id":"demo","name":"OpenMeet Demo","matrixConfig":{"serverName":"%s","homeserverUrl":"%s"}}]' \
  "$MATRIX_SERVER_NAME" "$MATRIX_HOMESERVER_URL" | base64 -w0)
export TENANTS_B64
psql_demo() { psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qAt -c "$1"; }

step "Seeding an OpenMeet-shaped database: tenant 'demo', 12 events, users, RSVPs in every status and role"
node apps/reconciler/dev/seed.ts 12 42

step "1. What would change? (dry run; nothing is written)"
reconciler plan

step "2. Apply it"
reconciler apply | tail -n 1

step "3. Plan again: Matrix now matches OpenMeet"
reconciler plan --detailed-exitcode && echo "(exit code 0: in sync)"

step "4. Meanwhile in OpenMeet: an attendee cancels, someone RSVPs, a participant becomes moderator"
# Confirmed participants with a Matrix handle, of published events.
candidates="FROM tenant_demo.\"eventAttendees\" a
  JOIN tenant_demo.events e ON e.id = a.\"eventId\" AND e.status = 'published'
  JOIN tenant_demo.users u ON u.id = a.\"userId\" AND u.\"statusId\" = 1 AND u.\"deletedAt\" IS NULL
  JOIN public.\"matrixHandleRegistry\" h ON h.\"userId\" = u.id AND h.\"tenantId\" = 'demo'
  JOIN tenant_demo.\"eventRoles\" r ON r.id = a.\"roleId\" AND r.name = 'participant'
  WHERE a.status = 'confirmed'"
event=$(psql_demo "SELECT a.\"eventId\" $candidates GROUP BY a.\"eventId\" HAVING count(*) >= 2 ORDER BY a.\"eventId\" LIMIT 1")
leaving=$(psql_demo "SELECT a.\"userId\" $candidates AND a.\"eventId\" = $event ORDER BY a.id LIMIT 1")
promoted=$(psql_demo "SELECT a.\"userId\" $candidates AND a.\"eventId\" = $event AND a.\"userId\" <> $leaving ORDER BY a.id LIMIT 1")
joining=$(psql_demo "SELECT u.id FROM tenant_demo.users u JOIN public.\"matrixHandleRegistry\" h ON h.\"userId\" = u.id AND h.\"tenantId\" = 'demo'
  WHERE u.\"statusId\" = 1 AND u.\"deletedAt\" IS NULL
    AND u.id NOT IN (SELECT \"userId\" FROM tenant_demo.\"eventAttendees\" WHERE \"eventId\" = $event)
  ORDER BY u.id LIMIT 1")
psql_demo "UPDATE tenant_demo.\"eventAttendees\" SET status = 'rejected' WHERE \"eventId\" = $event AND \"userId\" = $leaving"
psql_demo "UPDATE tenant_demo.\"eventAttendees\" SET \"roleId\" = (SELECT id FROM tenant_demo.\"eventRoles\" WHERE name = 'moderator')
  WHERE \"eventId\" = $event AND \"userId\" = $promoted"
psql_demo "INSERT INTO tenant_demo.\"eventAttendees\" (\"eventId\", \"userId\", status, \"roleId\")
  VALUES ($event, $joining, 'confirmed', (SELECT id FROM tenant_demo.\"eventRoles\" WHERE name = 'participant'))"
echo "event $event: user $leaving rejected, user $promoted now moderator, user $joining confirmed"

step "5. The plan shows exactly that"
reconciler plan --room "event:demo:$event"

step "6. Apply, and plan once more"
reconciler apply | tail -n 4
reconciler plan --detailed-exitcode && echo "(exit code 0: in sync)"

step "7. Why is that person out? And how are the rooms doing?"
reconciler explain "@demo.user$leaving:$MATRIX_SERVER_NAME"
reconciler status

step "Done. Services keep running: 'bash infra/dev/down.sh' stops them."

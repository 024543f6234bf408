#!/usr/bin/env bash
# The demo, from a clean checkout on a Debian machine with Node.js and apt: installs
# what it needs, starts PostgreSQL and a fresh Synapse on loopback, seeds an
# OpenMeet-shaped database, and runs a real reconcile you can watch:
#   a legacy room OpenMeet's older bot made → plan → apply → adopt the legacy room →
#   plan (nothing to do) → changes in OpenMeet → plan → apply → plan,
#   then the daemon: database triggers on, a new RSVP reaches Matrix while it runs.
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

step "A legacy room: before the switch-over, OpenMeet's older bot made one event's room, without ours"
legacy=$(node apps/reconciler/dev/legacy-room.ts demo)

step "1. What would change? (dry run; nothing is written)"
reconciler plan

step "2. Apply it"
reconciler apply | tail -n 1

step "2b. Event $legacy's room is blocked: OpenMeet's older bot holds it. What would adopting it change?"
reconciler adopt --room "event:demo:$legacy"
echo "Adopting it with a Synapse server admin's token (Synapse's make_room_admin for the bot, then the bot joins):"
SYNAPSE_ADMIN_TOKEN=$(node apps/reconciler/dev/server-admin.ts) reconciler adopt --confirm --room "event:demo:$legacy"

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

step "8. The daemon keeps it so: with triggers installed, an RSVP reaches Matrix while it runs"
reconciler install-triggers
HTTP_PORT=${DEMO_HTTP_PORT:-18090} LISTEN_ADDRESS=127.0.0.1 node apps/reconciler/src/main.ts run 2>"$STATE_DIR/daemon.log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
ops="http://127.0.0.1:${DEMO_HTTP_PORT:-18090}"
for _ in $(seq 1 120); do curl -fs -o /dev/null "$ops/readyz" && break; sleep 0.5; done
curl -s "$ops/readyz"; echo
invites() { curl -s "$ops/metrics" | awk '/^reconciler_actions_total\{type="invite",result="applied"\}/ {print $2}'; }
before=$(invites)
newcomer=$(psql_demo "SELECT u.id FROM tenant_demo.users u JOIN public.\"matrixHandleRegistry\" h ON h.\"userId\" = u.id AND h.\"tenantId\" = 'demo'
  WHERE u.\"statusId\" = 1 AND u.\"deletedAt\" IS NULL
    AND u.id NOT IN (SELECT \"userId\" FROM tenant_demo.\"eventAttendees\" WHERE \"eventId\" = $event)
  ORDER BY u.id LIMIT 1")
started=$(date +%s%N)
psql_demo "INSERT INTO tenant_demo.\"eventAttendees\" (\"eventId\", \"userId\", status, \"roleId\")
  VALUES ($event, $newcomer, 'confirmed', (SELECT id FROM tenant_demo.\"eventRoles\" WHERE name = 'participant'))"
for _ in $(seq 1 100); do [ "$(invites)" != "$before" ] && break; sleep 0.1; done
echo "user $newcomer RSVPed to event $event: invited by the daemon after $(( ($(date +%s%N) - started) / 1000000 )) ms"
echo "Some of its metrics ($ops/metrics):"
curl -s "$ops/metrics" | grep -E '^reconciler_(leader|rooms\{.*status="in_sync"|actions_total\{type="(invite|kick|create_room)",result="applied"|workqueue_adds_total|last_full_sync)' | grep -v ' 0$'
kill -TERM "$daemon" && wait "$daemon" && echo "(SIGTERM: the daemon stopped cleanly, exit code 0; its JSON log is in $STATE_DIR/daemon.log)"
trap - EXIT
reconciler uninstall-triggers

step "Done. Services keep running: 'bash infra/dev/down.sh' stops them."

/**
 * Development (the demo): makes one event's room the way OpenMeet's older bot identity made
 * rooms before the switch-over: `@openmeet-bot-<tenant>` creates it with the event's alias,
 * gives the hosts 100 and invites the confirmed attendees; the reconciler's bot is not in
 * it. Usage: node dev/legacy-room.ts <tenant id>   (DATABASE_URL, MATRIX_HOMESERVER_URL,
 * APPSERVICE_REGISTRATION, MATRIX_SERVER_NAME, TENANTS_B64 from the environment)
 * Prints the event id it chose (the lowest published invite-only one with a host who has a handle).
 * Never point it at a real homeserver: it makes rooms there.
 */

import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { legacyRoom, synapseClient, testServices } from "@openmeet-reconciler/testing"
import { Config, Effect } from "effect"

const tenantId = process.argv[2] ?? "demo"
const schema = tenantId === "" ? "public" : `tenant_${tenantId}`

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const serverName = yield* Config.string("MATRIX_SERVER_NAME")
  const t = (name: string) => sql(`${schema}.${name}`)
  // The people OpenMeet invited: attendees who came or will, and the hosts (at 100), with a Matrix handle.
  const rows = yield* sql<{ eventId: number; slug: string; name: string; handle: string; host: boolean }>`
    SELECT e.id AS "eventId", e.slug, e.name, h.handle, r.name = 'host' AS host
    FROM ${t("events")} e
    JOIN ${t("eventAttendees")} a ON a."eventId" = e.id
    JOIN ${t("eventRoles")} r ON r.id = a."roleId"
    JOIN ${t("users")} u ON u.id = a."userId" AND u."statusId" = 1 AND u."deletedAt" IS NULL
    JOIN public."matrixHandleRegistry" h ON h."userId" = u.id AND h."tenantId" = ${tenantId}
    WHERE (a.status IN ('confirmed', 'attended') OR (r.name = 'host' AND a.status <> 'rejected'))
      AND e.id = (
        SELECT min(e2.id) FROM ${t("events")} e2
        JOIN ${t("eventAttendees")} a2 ON a2."eventId" = e2.id AND a2.status <> 'rejected'
        JOIN ${t("eventRoles")} r2 ON r2.id = a2."roleId" AND r2.name = 'host'
        JOIN public."matrixHandleRegistry" h2 ON h2."userId" = a2."userId" AND h2."tenantId" = ${tenantId}
        WHERE e2.status = 'published' AND e2.visibility IN ('private', 'unlisted'))`
  const first = rows[0]
  if (first === undefined)
    return yield* Effect.dieMessage(`tenant ${tenantId}: no published invite-only event with a host`)
  const services = testServices()
  const synapse = synapseClient(services)
  const older = yield* Effect.promise(() => synapse.register(`openmeet-bot-${tenantId}`))
  const user = (handle: string) => `@${handle}:${serverName}`
  const roomId = yield* Effect.promise(() =>
    legacyRoom(synapse, services.botUserId, {
      alias: `#event-${first.slug}-${tenantId}:${serverName}`,
      name: first.name,
      joinRule: "invite",
      creator: older,
      users: Object.fromEntries(rows.filter((r) => r.host).map((r) => [user(r.handle), 100])),
      invite: rows.map((r) => user(r.handle)),
    }),
  )
  process.stderr.write(
    `event ${first.eventId}: room ${roomId} made by ${older} (OpenMeet's older bot), hosts at 100, ${rows.length} invited; ${services.botUserId} is not in it\n`,
  )
  process.stdout.write(`${first.eventId}\n`)
})

program.pipe(Effect.provide(PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })), NodeRuntime.runMain)

import { SqlClient } from "@effect/sql"
import { addAttendee, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { runCli } from "./cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s, eventTenant } = harness()
const start = daemonStarter()

describe("reconciler run: a forged notification", () => {
  it("an id beyond serial range beside a real RSVP: the RSVP is applied, the forgery counted and logged, nothing retried", async () => {
    const tenant = await eventTenant("dfn", "notified")
    const alias = `#event-notified-${tenant.id}:${s}`
    const attendee = `@${tenant.id}.u2:${s}`
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    expect((await runCli(["install-triggers"], env)).code).toBe(0)
    try {
      // Polling and resync are an hour away: only the notifications bring the change.
      const daemon = start(env)
      await ready(daemon)
      await eventually("the feed to listen", async () =>
        daemon.log().includes("change feed: LISTEN for 1 tenant(s), polling every 1h for 0"),
      )
      await eventually("the room", async () => (await synapse.resolveAlias(alias)) !== undefined, { daemon })
      const room = await synapse.resolveAlias(alias)
      if (room === undefined) throw new Error("no room")

      // One commit: a forged notification (an id no serial holds) and the trigger's for the RSVP.
      await db.runPromise(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql.withTransaction(
            Effect.gen(function* () {
              const forged = JSON.stringify({ t: tenant.id, tb: "events", id: "2147483648" })
              yield* sql`SELECT pg_notify('matrix_reconciler_changes', ${forged})`
              yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
            }),
          ),
        ),
      )
      await eventually("the RSVP's invite", async () => (await synapse.memberships(room))[attendee] === "invite", {
        daemon,
      })
      await eventually(
        "the forgery to be counted",
        async () => (await daemon.metric("reconciler_input_dropped_total", { source: "notify" })) === 1,
        { daemon },
      )
      expect(daemon.log()).toContain("change feed: notification ignored")
      // No key of the forged id reached the queue: nothing failed, nothing is retried.
      expect(await daemon.metric("reconciler_workqueue_retries_total")).toBe(0)
      expect(await daemon.metric("reconciler_reconcile_total", { result: "error" })).toBe(0)
      expect(daemon.log()).not.toContain(`event:${tenant.id}:2147483648`)
    } finally {
      expect((await runCli(["uninstall-triggers"], env)).code).toBe(0)
    }
  })
})

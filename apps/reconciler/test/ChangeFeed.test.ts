import { SqlClient } from "@effect/sql"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  addUser,
  fixtureTenant,
  removeGroupMember,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { runCli } from "./cli.ts"
import type { Daemon } from "./daemon.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s, terminate } = harness()
const start = daemonStarter()

/** A tenant with event 1 (u2 confirmed) and group 1 (u1 owner, u3 member). */
const seed = async (prefix: string): Promise<Tenant> => {
  const tenant = fixtureTenant(uniqueTenantId(prefix), s)
  await db.runPromise(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "rsvp", userId: 1 })
      yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
      // Invite-only: in a public group, a removed member would stay as a visitor.
      yield* addGroup(tenant, { id: 1, slug: "members", visibility: "private" })
      yield* addGroupMember(tenant, { groupId: 1, userId: 1, role: "owner" })
      yield* addGroupMember(tenant, { groupId: 1, userId: 3, role: "member" })
    }),
  )
  return tenant
}

const membership = async (alias: string, user: string) => {
  const room = await synapse.resolveAlias(alias)
  return room === undefined ? undefined : (await synapse.memberships(room))[user]
}

/** The new RSVP becomes an invite and the deleted group member is kicked, while the daemon runs. */
const changesReachMatrix = async (tenant: Tenant, daemon: Daemon) => {
  const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
  const eventAlias = `#event-rsvp-${tenant.id}:${s}`
  const groupAlias = `#group-members-${tenant.id}:${s}`
  await eventually("the first invites", async () => (await membership(groupAlias, mx(3))) === "invite", { daemon })
  await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 4, status: "confirmed" }))
  await eventually("the new RSVP's invite", async () => (await membership(eventAlias, mx(4))) === "invite", {
    daemon,
  })
  await db.runPromise(removeGroupMember(tenant, { groupId: 1, userId: 3 }))
  await eventually("the removed member's kick", async () => (await membership(groupAlias, mx(3))) === "leave", {
    daemon,
  })
}

describe("reconciler run: database triggers", () => {
  it("with install-triggers, LISTEN brings RSVPs and removals within the second, and survives a dropped connection", async () => {
    const tenant = await seed("dtr")
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    const installed = await runCli(["install-triggers"], env)
    expect(installed.stderr).toBe("")
    expect(installed.code).toBe(0)
    expect(installed.stdout).toContain(`Installed NOTIFY triggers (channel matrix_reconciler_changes) for ${tenant.id}`)
    try {
      // Polling and resync are an hour away: only the triggers can bring the changes.
      const daemon = start(env)
      await ready(daemon)
      await eventually("the feed to listen", async () =>
        daemon.log().includes("change feed: LISTEN for 1 tenant(s), polling every 1h for 0"),
      )
      await changesReachMatrix(tenant, daemon)

      // The listening connection is killed: the daemon reconnects (and resyncs), changes still arrive.
      await terminate("openmeet-matrix-reconciler listen")
      await eventually("the feed to listen again", async () => daemon.log().includes("listening again"), { daemon })
      await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" }))
      await eventually(
        "an RSVP after the reconnect",
        async () => (await membership(`#event-rsvp-${tenant.id}:${s}`, `@${tenant.id}.u3:${s}`)) === "invite",
        { daemon },
      )
    } finally {
      const removed = await runCli(["uninstall-triggers"], env)
      expect(removed.code).toBe(0)
    }
  })

  it("without triggers, polls updatedAt for RSVPs and finds deletions at the full resync", async () => {
    const tenant = await seed("dpl")
    const daemon = start(
      daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), POLL_INTERVAL: "500ms", RESYNC_INTERVAL: "3s" }),
    )
    await ready(daemon)
    await eventually("the feed to poll", async () =>
      daemon.log().includes("change feed: LISTEN for 0 tenant(s), polling every 500ms for 1"),
    )
    await changesReachMatrix(tenant, daemon)
  })

  it("install-triggers names the tenant whose tables are missing, and installs nothing", async () => {
    const good = await seed("dtg")
    const missing = fixtureTenant(uniqueTenantId("dtm"), s)
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([good, missing]) })
    const result = await runCli(["install-triggers"], env)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`install-triggers (tenant "${missing.id}")`)
    expect(result.stderr).toContain("does not exist")
    const count = await db.runPromise(
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${good.schema} AND NOT t.tgisinternal`,
      ),
    )
    expect(count[0]?.n).toBe(0)
  })
})

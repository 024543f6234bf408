import { hostname } from "node:os"
import { SqlClient } from "@effect/sql"
import { addAttendee, addUser, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { runCli } from "./cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s, eventTenant } = harness()
const start = daemonStarter()

describe("one writer", () => {
  it("apply refuses while a daemon leads, naming it; --wait-for-lock waits first; once the daemon stops, apply applies", async () => {
    const tenant = await eventTenant("alk", "locked")
    const alias = `#event-locked-${tenant.id}:${s}`
    const newcomer = `@${tenant.id}.u3:${s}`
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    const daemon = start(env)
    await ready(daemon)
    await eventually("the daemon's room", async () => (await synapse.resolveAlias(alias)) !== undefined, { daemon })
    const room = await synapse.resolveAlias(alias)
    if (room === undefined) throw new Error("no room")
    // Work for an apply to do (the daemon may get to it too: any reconcile of the room reads it).
    await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" }))

    // The CLI's own log level: what it prints is the refusal, nothing else.
    const cli = { ...env, LOG_LEVEL: "warn" }
    const refused = await runCli(["apply"], cli)
    expect(refused.code).toBe(1)
    // The holder is the daemon's lock session: its replica name carries the daemon's pid.
    expect(refused.stderr).toContain(
      `the leader lock of tenant "${tenant.id}" (schema "matrix_reconciler") is held by omr-leader:`,
    )
    expect(refused.stderr).toContain(`/${daemon.process.pid}/`)
    expect(refused.stderr).toContain("(backend pid ")
    expect(refused.stderr).toContain("a daemon leads it, or another apply runs")
    expect(refused.stdout).toBe("")

    const started = Date.now()
    const waited = await runCli(["apply", "--wait-for-lock", "2s"], cli)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
    expect(waited.code).toBe(1)
    expect(waited.stderr).toContain(`is held by omr-leader:`)
    // Neither wrote anything: every audit row of the tenant is the daemon's.
    const writers = await db.runPromise(
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) => sql<{ writer: string | null }>`SELECT DISTINCT writer FROM matrix_reconciler.audit_log
          WHERE key LIKE ${`%:${tenant.id}:%`}`,
      ),
    )
    expect(writers).toEqual([{ writer: `${hostname()}/${daemon.process.pid}` }])

    expect((await daemon.stop("SIGTERM")).code).toBe(0)
    // A change nobody has made yet: the apply after the daemon makes it.
    await db.runPromise(
      Effect.zipRight(addUser(tenant, { id: 3 }), addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })),
    )
    // The daemon's session ends with its process; the wait covers the moment PostgreSQL takes to notice.
    const applied = await runCli(["apply", "--wait-for-lock", "10s"], cli)
    expect(applied.stderr).toBe("")
    expect(applied.code).toBe(0)
    expect(applied.stdout).toContain(`+ invite ${newcomer}`)
    expect((await synapse.memberships(room))[newcomer]).toBe("invite")
  })
})

import { addAttendee, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { describe, expect, it } from "vitest"
import { runCli } from "./cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s, eventTenant } = harness()
const start = daemonStarter()

describe("one writer", () => {
  it("apply refuses while a daemon leads, naming it; --wait-for-lock waits first; once the daemon stops, apply applies", async () => {
    const tenant = await eventTenant("alk", "locked")
    const alias = `#event-locked-${tenant.id}:${s}`
    const attendee = `@${tenant.id}.u2:${s}`
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    const daemon = start(env)
    await ready(daemon)
    await eventually("the daemon's room", async () => (await synapse.resolveAlias(alias)) !== undefined, { daemon })
    const room = await synapse.resolveAlias(alias)
    if (room === undefined) throw new Error("no room")
    // A change the daemon does not hear of (no triggers, polling an hour away): only apply could make it.
    await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" }))

    // The CLI's own log level: what it prints is the refusal, nothing else.
    const cli = { ...env, LOG_LEVEL: "warn" }
    const refused = await runCli(["apply"], cli)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(
      'the leader lock of schema "matrix_reconciler" is held by openmeet-matrix-reconciler leader (backend pid ',
    )
    expect(refused.stderr).toContain("a daemon is running, or another apply")
    expect(refused.stdout).toBe("")

    const started = Date.now()
    const waited = await runCli(["apply", "--wait-for-lock", "2s"], cli)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
    expect(waited.code).toBe(1)
    expect(waited.stderr).toContain("is held by openmeet-matrix-reconciler leader (backend pid ")
    // Neither touched the room.
    expect((await synapse.memberships(room))[attendee]).toBeUndefined()

    expect((await daemon.stop("SIGTERM")).code).toBe(0)
    // The daemon's session ends with its process; the wait covers the moment PostgreSQL takes to notice.
    const applied = await runCli(["apply", "--wait-for-lock", "10s"], cli)
    expect(applied.stderr).toBe("")
    expect(applied.code).toBe(0)
    expect(applied.stdout).toContain(`+ invite ${attendee}`)
    expect((await synapse.memberships(room))[attendee]).toBe("invite")
  })
})

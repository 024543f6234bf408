import { SqlClient } from "@effect/sql"
import { addAttendee, addEvent, addUser, fixtureTenant, resetTenant, tenantsB64 } from "@openmeet-reconciler/openmeet"
import { uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"
import { tcpProxy } from "./tcpProxy.ts"

const { services, synapse, db, s, terminate } = harness()

const start = daemonStarter()

const AuditRow = Schema.Struct({
  key: Schema.String,
  action: Schema.String,
  detail: Schema.Unknown,
  result: Schema.String,
  writer: Schema.NullOr(Schema.String),
})

/** The audit log rows of one tenant's rooms, oldest first. */
const audit = (tenant: string) =>
  db.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`SELECT key, action, detail, result, writer FROM matrix_reconciler.audit_log
        WHERE key LIKE ${`%:${tenant}:%`} ORDER BY id`
      return yield* Schema.decodeUnknown(Schema.Array(AuditRow))(rows)
    }),
  )

/** Every action applied at most once: the same (room, action, detail) never twice. */
const appliedTwice = (rows: ReadonlyArray<typeof AuditRow.Type>) => {
  const seen = new Set<string>()
  const twice: Array<string> = []
  for (const row of rows.filter((r) => r.result === "applied")) {
    const id = `${row.key} ${JSON.stringify(row.detail)}`
    if (seen.has(id)) twice.push(id)
    seen.add(id)
  }
  return twice
}

describe("reconciler run: failures", () => {
  it("two daemons on one database: one applies; when it dies the other takes over and finishes", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dld"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "ha", userId: 1 })
        yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
      }),
    )
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    const a = start(env)
    await ready(a)
    // The second replica cannot listen where Synapse sends transactions (the first does): another port.
    const b = start({ ...env, APPSERVICE_PORT: String(a.httpPort + 1000) })
    await ready(b, { standby: true })
    await eventually(
      "one leader",
      async () => (await a.metric("reconciler_leader")) + (await b.metric("reconciler_leader")) === 1,
    )
    const [leader, standby] = (await a.metric("reconciler_leader")) === 1 ? [a, b] : [b, a]
    expect(JSON.parse((await standby.get("/readyz")).body)).toMatchObject({ ready: true, role: "standby" })
    const room = await synapse.resolveAlias(`#event-ha-${tenant.id}:${s}`)
    if (room === undefined) throw new Error("the leader made no room")
    await eventually("the attendee's invite", async () => (await synapse.memberships(room))[mx(2)] === "invite")
    const before = await audit(tenant.id)
    expect(new Set(before.map((row) => row.writer)).size).toBe(1)
    expect(before.map((row) => row.action)).toEqual(["create_room", "invite", "invite"])

    // The leader dies without a word; OpenMeet changes meanwhile.
    await leader.stop("SIGKILL")
    await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" }))
    await eventually("the standby to lead", async () => (await standby.metric("reconciler_leader")) === 1, {
      daemon: standby,
    })
    await eventually("the new attendee's invite", async () => (await synapse.memberships(room))[mx(3)] === "invite", {
      daemon: standby,
    })
    // The audit row is written once the room's actions are done, just after Synapse shows them.
    await eventually("the new leader's audit row", async () => (await audit(tenant.id)).length > before.length, {
      daemon: standby,
    })
    const after = await audit(tenant.id)
    const writers = after.map((row) => row.writer)
    // One writer at a time: all the first leader's rows, then only the new leader's.
    const firstWriter = writers[0]
    const switchAt = writers.findIndex((w) => w !== firstWriter)
    expect(switchAt).toBeGreaterThan(0)
    expect(writers.slice(switchAt).every((w) => w === writers[switchAt])).toBe(true)
    expect(appliedTwice(after)).toEqual([])
  })

  it("a leader whose lock connection dies steps down at once, then leads again", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dlk"), s)
    await db.runPromise(resetTenant(tenant, 40))
    const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) }))
    await ready(daemon)
    // A standby is ready too; the lock may still be held by a replica of the test before, just killed.
    await eventually("it to lead", async () => (await daemon.metric("reconciler_leader")) === 1, { daemon })
    await terminate("openmeet-matrix-reconciler leader")
    await eventually("the leader to step down", async () => daemon.log().includes("leader: stepped down"), { daemon })
    await eventually(
      "it to lead again",
      async () =>
        daemon.log().split("leader: acquired the lock").length === 3 &&
        (await daemon.metric("reconciler_leader")) === 1,
      { daemon },
    )
    expect(daemon.process.exitCode).toBeNull()
  })

  it("a homeserver that stops mid-cycle: no crash, /readyz fails, then the rooms converge without duplicates", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dhs"), s)
    const events = [1, 2, 3, 4, 5, 6, 7, 8]
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
        for (const id of events) {
          yield* addEvent(tenant, { id, slug: `down${id}`, userId: 1 })
          yield* addAttendee(tenant, { eventId: id, userId: 2, status: "confirmed" })
          yield* addAttendee(tenant, { eventId: id, userId: 3, status: "confirmed" })
        }
      }),
    )
    const joinedBefore = (await synapse.joinedRooms()).length
    const proxy = await tcpProxy(new URL(services.homeserverUrl))
    try {
      const daemon = start({
        ...daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), RECONCILE_CONCURRENCY: "1" }),
        MATRIX_HOMESERVER_URL: proxy.url,
        TENANTS_B64: tenantsB64([{ ...tenant, homeserverUrl: proxy.url }]),
      })
      // The homeserver goes away right after the third room creation request reached it.
      proxy.cutAt("POST /_matrix/client/v3/createRoom", 3)
      await eventually("the cut", async () => proxy.isDown(), { daemon, timeoutMs: 60_000 })
      await eventually("/readyz to fail", async () => (await daemon.get("/readyz")).status === 503, { daemon })
      expect(JSON.parse((await daemon.get("/readyz")).body)).toMatchObject({
        ready: false,
        checks: { database: "ok" },
      })
      // Failed rooms go back to the queue with backoff; the process stays up.
      await new Promise((resolve) => setTimeout(resolve, 3000))
      expect((await daemon.get("/healthz")).status).toBe(200)
      expect(daemon.process.exitCode).toBeNull()

      proxy.up()
      await eventually(
        "every room with both invites",
        async () => {
          for (const id of events) {
            const room = await synapse.resolveAlias(`#event-down${id}-${tenant.id}:${s}`)
            if (room === undefined) return false
            const members = await synapse.memberships(room)
            if (members[`@${tenant.id}.u2:${s}`] !== "invite" || members[`@${tenant.id}.u3:${s}`] !== "invite") {
              return false
            }
          }
          return true
        },
        { daemon, timeoutMs: 60_000 },
      )
      await eventually("/readyz to pass", async () => (await daemon.get("/readyz")).status === 200, { daemon })
      // One room per event, each action applied once.
      expect((await synapse.joinedRooms()).length - joinedBefore).toBe(events.length)
      expect(appliedTwice(await audit(tenant.id))).toEqual([])
      expect(await daemon.metric("reconciler_workqueue_retries_total")).toBeGreaterThan(0)
    } finally {
      await proxy.close()
    }
  }, 240_000)

  it("a database that is down at start: the daemon waits, /readyz says why, then it reconciles", async () => {
    const tenant = fixtureTenant(uniqueTenantId("ddb"), s)
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        yield* addUser(tenant, { id: 1 })
        yield* addEvent(tenant, { id: 1, slug: "late", userId: 1 })
      }),
    )
    const target = new URL(services.databaseUrl)
    const proxy = await tcpProxy(target, false)
    try {
      const through = new URL(services.databaseUrl)
      through.port = String(proxy.port)
      const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), DATABASE_URL: through.toString() }))
      await eventually("/healthz", async () => (await daemon.get("/healthz")).status === 200, { daemon })
      const waiting = await daemon.get("/readyz")
      expect(waiting.status).toBe(503)
      expect(JSON.parse(waiting.body)).toMatchObject({ ready: false, checks: { database: "error: not connected yet" } })
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(daemon.process.exitCode).toBeNull()
      expect(daemon.log()).toContain("OpenMeet's database is unreachable")
      proxy.up()
      await ready(daemon)
      await eventually(
        "the room",
        async () => (await synapse.resolveAlias(`#event-late-${tenant.id}:${s}`)) !== undefined,
        {
          daemon,
        },
      )
    } finally {
      await proxy.close()
    }
  })
})

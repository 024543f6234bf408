import { createServer } from "node:net"
import { SqlClient } from "@effect/sql"
import { isRecord } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"
import { tcpProxy } from "./tcpProxy.ts"

const { services, synapse, db, s, terminate } = harness()
const bot = services.botUserId
const appserviceId = "openmeet-bot"

/** A TCP port nothing listens on now. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer()
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

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

  it("a transaction that reaches a standby reaches the leader at once: drift another admin made is put back", async () => {
    const tenant = fixtureTenant(uniqueTenantId("frel"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const admin = `@admin-${tenant.id}:${s}`
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "relayed", userId: 1 })
        yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
      }),
    )
    const env = daemonEnv(services, {
      TENANTS_B64: tenantsB64([tenant]),
      RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n`,
    })
    // The leader listens elsewhere: every transaction goes to the standby, at the registration's url.
    const leader = start({ ...env, APPSERVICE_PORT: String(await freePort()) })
    await ready(leader)
    const standby = start(env)
    await ready(standby, { standby: true })
    // The homeserver found nobody at the registration's url while only the leader ran, and
    // backs off; a ping (as a starting leader does) makes it send again.
    await synapse.call("POST", `/_matrix/client/v1/appservice/${encodeURIComponent(appserviceId)}/ping`, {})
    const room = await synapse.resolveAlias(`#event-relayed-${tenant.id}:${s}`)
    if (room === undefined) throw new Error("the leader made no room")
    await eventually("u2 to be invited", async () => (await synapse.memberships(room))[mx(2)] === "invite", {
      daemon: leader,
    })
    // A protected admin makes u2 a moderator, which OpenMeet does not say.
    await synapse.register(`admin-${tenant.id}`)
    await synapse.inviteAs(bot, room, admin)
    await synapse.joinAs(admin, room)
    const levels = await synapse.powerLevels(room)
    const users = isRecord(levels.users) ? levels.users : {}
    await synapse.setPowerLevels(room, { ...levels, users: { ...users, [admin]: 100 } })
    await synapse.setPowerLevels(
      room,
      { ...(await synapse.powerLevels(room)), users: { ...users, [admin]: 100, [mx(2)]: 50 } },
      admin,
    )
    // The leader, whose cache still holds the old state, hears of it through the standby.
    await eventually(
      "u2's level to be put back by the leader",
      async () => {
        const now = await synapse.powerLevels(room)
        return isRecord(now.users) && now.users[mx(2)] === undefined && now.users[admin] === 100
      },
      { daemon: leader, timeoutMs: 20_000 },
    )
    expect(leader.log()).toContain("from transactions a standby took")
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

import { createServer } from "node:net"
import { SqlClient } from "@effect/sql"
import { isRecord } from "@openmeet-reconciler/core"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { tcpProxy, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { runCli } from "./cli.ts"
import type { Daemon } from "./daemon.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s, terminate, eventTenant } = harness()
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
    // Every row since the kill is the survivor's. (The rows before may be either replica's:
    // a replica joining can be handed the tenant, as the tenants are spread over replicas.)
    const added = after.slice(before.length)
    expect(added.length).toBeGreaterThan(0)
    expect(added.map((row) => row.writer?.split("/").at(-1))).toEqual(added.map(() => String(standby.process.pid)))
    expect(appliedTwice(after)).toEqual([])
  })

  it("three replicas share four tenants, each led by exactly one; a killed replica's tenants are taken over", async () => {
    const tenants = await Promise.all([0, 1, 2, 3].map((i) => eventTenant(`fsh${i}`, "shared")))
    // Polled every second: the change made after the takeover reaches the tenant's new leader.
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64(tenants), POLL_INTERVAL: "1s" })
    // Only one replica can listen where Synapse sends transactions; the others listen elsewhere.
    const replicas = [start(env), start({ ...env, APPSERVICE_PORT: String(await freePort()) })]
    replicas.push(start({ ...env, APPSERVICE_PORT: String(await freePort()) }))
    const ids = tenants.map((t) => t.id).sort()
    /** Which tenants each replica says it leads (/readyz), the dead ones left out. */
    const led = async (alive: ReadonlyArray<Daemon>) =>
      Promise.all(
        alive.map(async (replica) => {
          const { status, body } = await replica.get("/readyz")
          return status === 0 ? [] : (JSON.parse(body) as { tenants: Array<string> }).tenants
        }),
      )
    const sharedOut = async (alive: ReadonlyArray<Daemon>) => {
      const shares = await led(alive)
      const all = shares.flat().sort()
      const cap = Math.ceil(ids.length / alive.length)
      return JSON.stringify(all) === JSON.stringify(ids) && shares.every((share) => share.length <= cap)
    }
    await eventually("four tenants spread over three replicas, each led once", () => sharedOut(replicas), {
      timeoutMs: 60_000,
    })
    for (const tenant of tenants) {
      const leaders = await Promise.all(
        replicas.map((r) => r.metric("reconciler_tenant_leader", { tenant: tenant.id })),
      )
      expect(leaders.reduce((n, v) => n + v, 0)).toBe(1)
      await eventually(
        `tenant ${tenant.id}'s room`,
        async () => (await synapse.resolveAlias(`#event-shared-${tenant.id}:${s}`)) !== undefined,
      )
    }
    // A replica that leads something dies without a word; the other two share its tenants.
    const shares = await led(replicas)
    const victim = shares.findIndex((share) => share.length > 0)
    const orphaned = shares[victim] ?? []
    await replicas[victim]?.stop("SIGKILL")
    const survivors = replicas.filter((_, i) => i !== victim)
    await eventually("the survivors to lead every tenant", () => sharedOut(survivors), { timeoutMs: 30_000 })
    // The new leader of an orphaned tenant applies OpenMeet's changes.
    const moved = tenants.find((t) => orphaned.includes(t.id))
    if (moved === undefined) throw new Error("the killed replica led nothing")
    await db.runPromise(addAttendee(moved, { eventId: 1, userId: 2, status: "confirmed" }))
    const room = await synapse.resolveAlias(`#event-shared-${moved.id}:${s}`)
    if (room === undefined) throw new Error("no room")
    await eventually(
      "the attendee to be invited by the tenant's new leader",
      async () => (await synapse.memberships(room))[`@${moved.id}.u2:${s}`] === "invite",
      { timeoutMs: 30_000 },
    )
    for (const tenant of tenants) expect(appliedTwice(await audit(tenant.id))).toEqual([])
  })

  it("a transaction that reaches another replica reaches the tenant's leader at once: drift another admin made is put back", async () => {
    const tenants = await Promise.all([0, 1].map((i) => eventTenant(`frel${i}`, "relayed")))
    const mx = (tenant: Tenant, n: number) => `@${tenant.id}.u${n}:${s}`
    await db.runPromise(
      Effect.forEach(tenants, (tenant) => addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" }), {
        discard: true,
      }),
    )
    const env = daemonEnv(services, {
      TENANTS_B64: tenantsB64(tenants),
      RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n`,
    })
    // Two replicas, one tenant each; every transaction goes to the first, at the registration's url.
    const first = start(env)
    const second = start({ ...env, APPSERVICE_PORT: String(await freePort()) })
    const ledBy = async (replica: Daemon) =>
      (JSON.parse((await replica.get("/readyz")).body) as { tenants: Array<string> }).tenants
    await eventually(
      "each replica to lead one tenant",
      async () => (await ledBy(second)).length === 1 && (await ledBy(first)).length === 1,
      {
        daemon: second,
        timeoutMs: 60_000,
      },
    )
    await ready(first)
    await ready(second)
    // The tenant the second replica leads: its transactions reach it only through the first.
    const [ledElsewhere] = await ledBy(second)
    const tenant = tenants.find((t) => t.id === ledElsewhere)
    if (tenant === undefined) throw new Error("no tenant led by the second replica")
    // The homeserver found nobody at the registration's url at first, and backs off; a ping
    // (as a starting leader does) makes it send again. A ping the homeserver gives up on
    // under load (502) is asked again.
    await eventually(
      "the homeserver to reach the first replica",
      async () => {
        await synapse.call("POST", `/_matrix/client/v1/appservice/${encodeURIComponent(appserviceId)}/ping`, {})
        return true
      },
      { daemon: first },
    )
    const room = await synapse.resolveAlias(`#event-relayed-${tenant.id}:${s}`)
    if (room === undefined) throw new Error("the tenant's leader made no room")
    await eventually("u2 to be invited", async () => (await synapse.memberships(room))[mx(tenant, 2)] === "invite", {
      daemon: second,
    })
    // The first replica's dry run answers for the tenant it leads, and names the other as led elsewhere.
    const here = tenants.find((t) => t.id !== tenant.id)
    const bare = { PATH: process.env.PATH, HOME: process.env.HOME }
    const printed = await runCli(["plan", "--daemon", `http://127.0.0.1:${first.httpPort}`, "--output", "json"], bare)
    expect(printed.code).toBe(1)
    expect(printed.stderr).toContain(`error: tenant ${JSON.stringify(tenant.id)}: not led by this replica`)
    expect(JSON.parse(printed.stdout).rooms.map((r: { key: string }) => r.key)).toEqual([`event:${here?.id}:1`])
    const asked = await first.get(`/plan?tenant=${tenant.id}`)
    expect(asked.status).toBe(503)
    expect(asked.body).toContain(`leads none of the tenants asked (${tenant.id})`)
    // A protected admin makes u2 a moderator, which OpenMeet does not say.
    const admin = `@admin-${tenant.id}:${s}`
    await synapse.register(`admin-${tenant.id}`)
    await synapse.inviteAs(bot, room, admin)
    await synapse.joinAs(admin, room)
    const levels = await synapse.powerLevels(room)
    const users = isRecord(levels.users) ? levels.users : {}
    await synapse.setPowerLevels(room, { ...levels, users: { ...users, [admin]: 100 } })
    await synapse.setPowerLevels(
      room,
      { ...(await synapse.powerLevels(room)), users: { ...users, [admin]: 100, [mx(tenant, 2)]: 50 } },
      admin,
    )
    // The tenant's leader, whose cache still holds the old state, hears of it through the first replica.
    await eventually(
      "u2's level to be put back by the tenant's leader",
      async () => {
        const now = await synapse.powerLevels(room)
        return isRecord(now.users) && now.users[mx(tenant, 2)] === undefined && now.users[admin] === 100
      },
      { daemon: second, timeoutMs: 20_000 },
    )
    expect(second.log()).toContain("from transactions another replica took")
  })

  it("a leader whose lock connection dies steps down at once, then leads again", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dlk"), s)
    await db.runPromise(resetTenant(tenant, 40))
    const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) }))
    await ready(daemon)
    // A standby is ready too; the lock may still be held by a replica of the test before, just killed.
    await eventually("it to lead", async () => (await daemon.metric("reconciler_leader")) === 1, { daemon })
    await terminate("omr-leader:")
    await eventually("the leader to step down", async () => daemon.log().includes("leadership: stepped down"), {
      daemon,
    })
    await eventually(
      "it to lead again",
      async () =>
        daemon.log().split(`leadership: leading tenant ${tenant.id}`).length === 3 &&
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

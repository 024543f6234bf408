import { createServer } from "node:net"
import { isRecord } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { faultyHomeserver, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { cliEnv, runCli } from "./cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s } = harness()
const bot = services.botUserId

const start = daemonStarter()

const usersOf = async (roomId: string): Promise<Record<string, unknown>> => {
  const levels = await synapse.powerLevels(roomId)
  return isRecord(levels.users) ? { ...levels.users } : {}
}

describe("reconciler run: Matrix triggers", () => {
  it("puts back a power level another admin changed and respects a human moderator's kick", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dmx"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const admin = `@admin-${tenant.id}:${s}`
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "meetup", userId: 1 })
        yield* addAttendee(tenant, { eventId: 1, userId: 1, status: "confirmed", role: "host" })
        yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
        yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
      }),
    )
    const env = daemonEnv(services, {
      TENANTS_B64: tenantsB64([tenant]),
      RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n`,
    })
    const daemon = start(env)
    await ready(daemon)
    const alias = `#event-meetup-${tenant.id}:${s}`
    // The resync queued the room; an alias query waits for its creation.
    const room = await synapse.resolveAlias(alias)
    if (room === undefined) throw new Error("the first resync made no room")
    await eventually(
      "the attendees to be invited",
      async () => {
        const members = await synapse.memberships(room)
        return members[mx(2)] === "invite" && members[mx(3)] === "invite"
      },
      { daemon },
    )

    // A human admin, protected by policy, joins at level 100 (set by the bot: no drift).
    await synapse.register(`admin-${tenant.id}`)
    await synapse.inviteAs(bot, room, admin)
    await synapse.joinAs(admin, room)
    await synapse.setPowerLevels(room, {
      ...(await synapse.powerLevels(room)),
      users: { ...(await usersOf(room)), [admin]: 100 },
    })
    // u3 joins, and the admin (a human moderator) kicks them.
    await synapse.register(`${tenant.id}.u3`)
    await synapse.joinAs(mx(3), room)
    await synapse.kickAs(admin, room, mx(3))
    // The admin makes u2 a moderator, which OpenMeet does not say: the reconciler puts it back.
    await synapse.setPowerLevels(
      room,
      { ...(await synapse.powerLevels(room)), users: { ...(await usersOf(room)), [mx(2)]: 50 } },
      admin,
    )
    await eventually(
      "u2's level to be put back",
      async () => {
        const users = await usersOf(room)
        return users[mx(2)] === undefined && users[admin] === 100 && users[mx(1)] === 99
      },
      { daemon },
    )
    // The kick came first in the same room's stream; by now it was reconciled: u3 stays out.
    expect((await synapse.memberships(room))[mx(3)]).toBe("leave")
    expect(await daemon.metric("reconciler_workqueue_adds_total", { source: "change" })).toBeGreaterThan(0)
    expect(await daemon.metric("reconciler_actions_total", { type: "set_power_levels", result: "applied" })).toBe(1)
    expect(await daemon.metric("reconciler_actions_total", { type: "invite", result: "applied" })).toBe(3)

    const stopped = await daemon.stop("SIGTERM")
    expect(stopped.code).toBe(0)
  })

  it("creates a room on demand when a client asks for the alias of an event added after the resync", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dal"), s)
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        yield* addUser(tenant, { id: 1 })
      }),
    )
    const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) }))
    await ready(daemon)
    // No trigger, no polling (1h): only the alias query can make the daemon notice.
    await db.runPromise(addEvent(tenant, { id: 7, slug: "later", userId: 1 }))
    const room = await synapse.resolveAlias(`#event-later-${tenant.id}:${s}`)
    if (room === undefined) throw new Error("the alias query made no room")
    expect(await synapse.memberships(room)).toEqual({ [bot]: "join", [`@${tenant.id}.u1:${s}`]: "invite" })
    expect(await synapse.resolveAlias(`#event-other-${tenant.id}:${s}`)).toBeUndefined()
  })
})

describe("reconciler run: metrics", () => {
  it("counts applied actions by type exactly as the plan listed them, with no user, room or alias in any label", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dmt"), s)
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "counted", userId: 1 })
        yield* addEvent(tenant, { id: 2, slug: "counted-too", userId: 2 })
        for (const userId of [2, 3, 4]) yield* addAttendee(tenant, { eventId: 1, userId, status: "confirmed" })
        yield* addAttendee(tenant, { eventId: 2, userId: 3, status: "confirmed" })
      }),
    )
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    const planned = await runCli(["plan", "--output", "json"], env)
    const plan: unknown = JSON.parse(planned.stdout)
    if (!isRecord(plan) || !isRecord(plan.summary) || !isRecord(plan.summary.actions)) throw new Error(planned.stdout)
    const expected = Object.fromEntries(Object.entries(plan.summary.actions).map(([type, n]) => [type, Number(n)]))
    expect(expected).toEqual({ create_room: 2, invite: 6 })

    const daemon = start(env)
    await ready(daemon)
    await eventually(
      "both rooms reconciled",
      async () => (await daemon.metric("reconciler_rooms", { tenant: tenant.id, status: "in_sync" })) === 2,
      { daemon },
    )
    for (const [type, count] of Object.entries(expected)) {
      expect(await daemon.metric("reconciler_actions_total", { type, result: "applied" })).toBe(count)
    }
    expect(await daemon.metric("reconciler_actions_total", { result: "failed" })).toBe(0)
    expect(await daemon.metric("reconciler_reconcile_total", { kind: "event", result: "success" })).toBe(2)
    expect(await daemon.metric("reconciler_matrix_requests_total", { endpoint: "POST /createRoom", code: "200" })).toBe(
      2,
    )
    expect(await daemon.metric("reconciler_leader")).toBe(1)
    expect(await daemon.metric("reconciler_last_full_sync_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 120)
    expect(await daemon.metric("reconciler_pending_handles", { tenant: tenant.id })).toBe(0)
    expect(await daemon.metric("process_resident_memory_bytes")).toBeGreaterThan(0)
    // Label values never name a user, a room or an alias.
    const { body } = await daemon.get("/metrics")
    const labelValues = [...body.matchAll(/="([^"]*)"/g)].map((m) => m[1] ?? "")
    expect(labelValues.filter((v) => /^[@!#]|:openmeet\.test/.test(v))).toEqual([])
  })
})

describe("reconciler run: lifecycle and configuration", () => {
  it("reports drift without applying it under DRY_RUN, with actions by type as the plan counts them", async () => {
    const tenant = fixtureTenant(uniqueTenantId("ddr"), s)
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "dry", userId: 1 })
        yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
      }),
    )
    const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), DRY_RUN: "true" })
    const planned = await runCli(["plan", "--output", "json"], env)
    const summary: unknown = JSON.parse(planned.stdout)
    if (!isRecord(summary) || !isRecord(summary.summary) || !isRecord(summary.summary.actions)) {
      throw new Error(planned.stdout)
    }
    const daemon = start(env)
    await ready(daemon)
    await eventually(
      "the queued rooms to be planned",
      async () => (await daemon.metric("reconciler_reconcile_total")) > 0,
    )
    for (const [type, count] of Object.entries(summary.summary.actions)) {
      // The resync queued the drifted room; its reconcile counted each planned action once.
      expect(await daemon.metric("reconciler_actions_total", { type, result: "dry_run" })).toBe(Number(count))
      expect(await daemon.metric("reconciler_actions_total", { type, result: "applied" })).toBe(0)
    }
    expect(await synapse.resolveAlias(`#event-dry-${tenant.id}:${s}`)).toBeUndefined()
    expect(await daemon.metric("reconciler_leader")).toBe(0)
    expect(JSON.parse((await daemon.get("/readyz")).body)).toMatchObject({ ready: true, role: "dry-run" })
  })

  it("exits 0 on SIGTERM within the grace period, and answers /healthz until then", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dtm"), s)
    await db.runPromise(resetTenant(tenant, 40))
    const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), SHUTDOWN_GRACE: "3s" }))
    await ready(daemon)
    expect((await daemon.get("/healthz")).status).toBe(200)
    const stopped = await daemon.stop("SIGTERM")
    expect(stopped.code).toBe(0)
    expect(stopped.ms).toBeLessThan(3000 + 2000)
  })

  it.each([
    ["HTTP_PORT", "eighty", "HTTP_PORT"],
    ["RESYNC_INTERVAL", "soon", "RESYNC_INTERVAL: must be a duration"],
    ["POLL_INTERVAL", "1 fortnight", "POLL_INTERVAL: must be a duration"],
    ["DRY_RUN", "perhaps", "DRY_RUN"],
    ["SHUTDOWN_GRACE", "-1s", "SHUTDOWN_GRACE: must be a duration"],
    ["RECONCILE_WORKERS", "0", "RECONCILE_WORKERS: must be between 1 and 64"],
    ["APPSERVICE_PORT", "70000", "APPSERVICE_PORT: must be a TCP port"],
  ])("a bad %s (%s) is one clear message naming it", async (name, value, expected) => {
    const tenant = fixtureTenant(uniqueTenantId("dcf"), s)
    const result = await runCli(["run"], daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), [name]: value }))
    expect(result.code).toBe(1)
    const lines = result.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("error: configuration:")
    expect(lines[0]).toContain(expected)
  })

  it("a port another process holds is one clear message with the platform's reason", async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    const address = holder.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    try {
      const tenant = fixtureTenant(uniqueTenantId("dpt"), s)
      const env = daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), HTTP_PORT: String(port) })
      const result = await runCli(["run"], env)
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`HTTP_PORT ${port}`)
      expect(result.stderr).toContain("cannot listen (listen EADDRINUSE")
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })
})

/**
 * A dry run at production size: a running daemon answers `GET /plan` from its warm cache
 * and changes nothing; `plan --daemon URL` prints that answer without database
 * credentials; a CLI `plan` while the daemon leads reads from Matrix only what the
 * daemon's persisted states do not hold.
 */
describe("a dry run against a running daemon", () => {
  it("GET /plan and plan --daemon show what the leader would do, from its cache, changing nothing", async () => {
    const tenant = fixtureTenant(uniqueTenantId("dry"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant)
        for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
        for (const id of [1, 2, 3]) {
          yield* addEvent(tenant, { id, slug: `dry${id}`, userId: 1 })
          yield* addAttendee(tenant, { eventId: id, userId: 2, status: "confirmed" })
        }
      }),
    )
    const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) }))
    await ready(daemon)
    const rooms: Array<string> = []
    await eventually(
      "the three rooms with their invites",
      async () => {
        rooms.length = 0
        for (const id of [1, 2, 3]) {
          const room = await synapse.resolveAlias(`#event-dry${id}-${tenant.id}:${s}`)
          if (room === undefined || (await synapse.memberships(room))[mx(2)] !== "invite") return false
          rooms.push(room)
        }
        return true
      },
      { daemon },
    )
    await eventually("a converged plan", async () => (await daemon.get("/plan")).body.includes('"drifted": 0'), {
      daemon,
    })

    // OpenMeet changes without telling the daemon (no triggers, polling hourly).
    await db.runPromise(addAttendee(tenant, { eventId: 2, userId: 3, status: "confirmed" }))
    const answer = await daemon.get("/plan")
    expect(answer.status).toBe(200)
    const plan = JSON.parse(answer.body)
    expect(plan.summary).toMatchObject({ rooms: 3, inSync: 2, drifted: 1, actions: { invite: 1 } })
    const drifted = plan.rooms.find((room: { status: string }) => room.status === "drifted")
    expect(drifted).toMatchObject({ key: `event:${tenant.id}:2`, actions: [{ type: "invite", user: mx(3) }] })
    const one = JSON.parse((await daemon.get(`/plan?room=event:${tenant.id}:1`)).body)
    expect(one.rooms.map((room: { key: string }) => room.key)).toEqual([`event:${tenant.id}:1`])
    expect(await daemon.get("/plan?tenant=nosuch")).toMatchObject({ status: 400 })
    const text = await daemon.get(`/plan?tenant=${tenant.id}&output=text`)
    expect(text.body).toContain(`+ invite ${mx(3)}`)

    // Without database credentials: the daemon's answer, and its exit code.
    const bare = { PATH: process.env.PATH, HOME: process.env.HOME }
    const url = `http://127.0.0.1:${daemon.httpPort}`
    const printed = await runCli(["plan", "--daemon", url, "--output", "json", "--detailed-exitcode"], bare)
    expect(printed.stderr).toBe("")
    expect(printed.code).toBe(2)
    expect(JSON.parse(printed.stdout)).toEqual(plan)
    const room1 = await runCli(["plan", "--daemon", url, "--room", `event:${tenant.id}:1`, "--detailed-exitcode"], bare)
    expect(room1.code).toBe(0)
    expect(room1.stdout).toContain("No changes.")
    const refused = await runCli(["plan", "--daemon", url, "--tenant", "nosuch"], bare)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("no such tenant")

    // Nothing was applied: the new attendee has no invite.
    expect((await synapse.memberships(rooms[1] ?? ""))[mx(3)]).toBeUndefined()

    // A CLI plan while the daemon leads starts from the states the daemon persisted.
    const proxy = await faultyHomeserver(services.homeserverUrl, () => false)
    try {
      const env = cliEnv(services, { TENANTS_B64: tenantsB64([tenant]), MATRIX_HOMESERVER_URL: proxy.url })
      const cli = await runCli(["plan", "--output", "json"], env)
      expect(cli.code).toBe(0)
      expect(JSON.parse(cli.stdout)).toEqual(plan)
      const read = proxy.forwarded().filter((r) => rooms.some((room) => r.path.includes(`/rooms/${room}/state`)))
      expect(read).toEqual([])
    } finally {
      await proxy.close()
    }
  })
})

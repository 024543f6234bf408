import { SqlClient } from "@effect/sql"
import { isRecord } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  addUser,
  fixtureTenant,
  removeGroupMember,
  resetTenant,
  setAttendee,
  setGroupMemberRole,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { secondHomeserver, sqlLayer, synapseClient, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { cliEnv, runCli, startCli } from "./cli.ts"

const services = testServices()
const synapse = synapseClient(services)
const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
afterAll(() => db.dispose())

const s = services.serverName
const bot = services.botUserId

const parseJson = (text: string): unknown => JSON.parse(text)

describe("plan and apply against real PostgreSQL and Synapse", () => {
  it("repairs drift from both sides, leaves protected users alone, and then has nothing to do", async () => {
    const tenant = fixtureTenant(uniqueTenantId("e2e"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const admin = `@admin-${tenant.id}:${s}`
    const env = cliEnv(services, {
      TENANTS_B64: tenantsB64([tenant]),
      RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n`,
    })

    // Starting point: one published event, in sync after a first apply.
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3, 4, 5, 6]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "meetup", userId: 1 })
        yield* addAttendee(tenant, { eventId: 1, userId: 1, status: "confirmed", role: "host" })
        yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
        yield* addAttendee(tenant, { eventId: 1, userId: 4, status: "confirmed" })
        yield* addAttendee(tenant, { eventId: 1, userId: 5, status: "confirmed" })
        yield* addAttendee(tenant, { eventId: 1, userId: 6, status: "waitlist" })
      }),
    )
    const first = await runCli(["apply"], env)
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    const room1 = await synapse.resolveAlias(`#event-meetup-${tenant.id}:${s}`)
    if (room1 === undefined) throw new Error("the first apply made no room")

    // Drift made in Matrix: u2 joined and was made moderator by someone; an admin joined at 100.
    await synapse.register(`${tenant.id}.u2`)
    await synapse.joinAs(mx(2), room1)
    await synapse.register(`admin-${tenant.id}`)
    await synapse.inviteAs(bot, room1, admin)
    await synapse.joinAs(admin, room1)
    const levels = await synapse.powerLevels(room1)
    await synapse.setPowerLevels(room1, {
      ...levels,
      users: { ...(isRecord(levels.users) ? levels.users : {}), [mx(2)]: 50, [admin]: 100 },
    })
    // Drift made in OpenMeet: a new RSVP, a cancellation to rejected, a promotion, a new event.
    await db.runPromise(
      Effect.gen(function* () {
        yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
        yield* setAttendee(tenant, { eventId: 1, userId: 4, status: "rejected" })
        yield* setAttendee(tenant, { eventId: 1, userId: 5, role: "moderator" })
        yield* addEvent(tenant, { id: 2, slug: "second", userId: 2, visibility: "private" })
      }),
    )

    const planned = await runCli(["plan", "--output", "json", "--detailed-exitcode"], env)
    expect(planned.stderr).toBe("")
    expect(planned.code).toBe(2)
    expect(parseJson(planned.stdout)).toEqual({
      formatVersion: 1,
      summary: {
        rooms: 2,
        inSync: 0,
        drifted: 1,
        missing: 1,
        orphans: 0,
        blocked: 0,
        errors: 0,
        actions: { create_room: 1, set_power_levels: 1, invite: 2, kick: 1 },
        held: 0,
        visitors: 0,
      },
      rooms: [
        {
          key: `event:${tenant.id}:1`,
          tenant: tenant.id,
          kind: "event",
          entityId: "1",
          alias: `#event-meetup-${tenant.id}:${s}`,
          roomId: room1,
          status: "drifted",
          actions: [
            {
              type: "set_power_levels",
              changes: { [mx(2)]: { from: 50, to: 0 }, [mx(5)]: { from: 0, to: 50 } },
              reason: "levels follow OpenMeet roles",
            },
            { type: "invite", user: mx(3), reason: "attendee status confirmed" },
            { type: "kick", user: mx(4), reason: "attendee status rejected is not entitled" },
          ],
          conditions: [],
          visitors: 0,
        },
        {
          key: `event:${tenant.id}:2`,
          tenant: tenant.id,
          kind: "event",
          entityId: "2",
          alias: `#event-second-${tenant.id}:${s}`,
          roomId: null,
          status: "missing",
          actions: [
            {
              type: "create_room",
              alias: `#event-second-${tenant.id}:${s}`,
              name: "Event 2",
              joinRule: "invite",
              historyVisibility: "shared",
              guestAccess: "forbidden",
              users: { [mx(2)]: 99 },
              reason: "event 2 has no room",
            },
            { type: "invite", user: mx(2), reason: "event owner" },
          ],
          conditions: [],
          visitors: 0,
        },
      ],
    })

    const applied = await runCli(["apply"], env)
    expect(applied.stderr).toBe("")
    expect(applied.code).toBe(0)
    expect(applied.stdout).toContain("Apply: 5 applied, 0 failed, 0 not attempted.")

    // What Synapse itself now says.
    expect(await synapse.memberships(room1)).toEqual({
      [bot]: "join",
      [mx(1)]: "invite",
      [mx(2)]: "join",
      [mx(3)]: "invite",
      [mx(4)]: "leave",
      [mx(5)]: "invite",
      [admin]: "join",
    })
    expect((await synapse.powerLevels(room1)).users).toEqual({ [bot]: 100, [mx(1)]: 99, [mx(5)]: 50, [admin]: 100 })
    const room2 = await synapse.resolveAlias(`#event-second-${tenant.id}:${s}`)
    if (room2 === undefined) throw new Error("apply made no room for event 2")
    expect(await synapse.memberships(room2)).toEqual({ [bot]: "join", [mx(2)]: "invite" })
    const state2 = await synapse.state(room2)
    const content = (type: string) => state2.find((e) => e.type === type)?.content
    expect(content("m.room.join_rules")).toEqual({ join_rule: "invite" })
    expect(content("m.room.history_visibility")).toEqual({ history_visibility: "shared" })
    expect(content("m.room.guest_access")).toEqual({ guest_access: "forbidden" })
    expect(content("m.room.name")).toEqual({ name: "Event 2" })
    expect(content("m.room.power_levels")?.users).toEqual({ [bot]: 100, [mx(2)]: 99 })

    const again = await runCli(["plan", "--detailed-exitcode"], env)
    expect(again.code).toBe(0)
    expect(again.stdout).toContain("No changes. Matrix matches OpenMeet.")

    // explain: for a user, every room they are or should be in; for a room, every member.
    const user = await runCli(["explain", mx(4), "--output", "json"], env)
    expect(user.code).toBe(0)
    expect(parseJson(user.stdout)).toEqual({
      formatVersion: 1,
      subject: mx(4),
      rooms: [
        {
          key: `event:${tenant.id}:1`,
          alias: `#event-meetup-${tenant.id}:${s}`,
          roomId: room1,
          status: "in_sync",
          conditions: [],
          members: [
            {
              user: mx(4),
              entitled: false,
              standing: "excluded",
              rule: "attendee status rejected is not entitled",
              desiredLevel: null,
              membership: "leave",
              level: 0,
              protected: false,
              actions: [],
            },
          ],
        },
      ],
    })
    const byRoom = await runCli(["explain", `event:${tenant.id}:1`], env)
    expect(byRoom.code).toBe(0)
    expect(byRoom.stdout).toContain(
      `${mx(5)}: invite, level 50; should be in at level 50 — attendee status confirmed, role moderator`,
    )
    expect(byRoom.stdout).toContain(`${admin}: join, level 100; left as is — matches protectedUsers`)
    expect(byRoom.stdout).toContain(
      `${mx(6)}: not in the room; should not be in — attendee status waitlist is not entitled`,
    )
  })

  it("keeps a group room as the members table says: roles as levels, guests out, removals kicked", async () => {
    const tenant = fixtureTenant(uniqueTenantId("grp"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const env = cliEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 5)
        for (const id of [1, 2, 3, 4, 5]) yield* addUser(tenant, { id })
        yield* addGroup(tenant, { id: 1, slug: "hikers", name: "Hikers", visibility: "private" })
        yield* addGroupMember(tenant, { groupId: 1, userId: 1, role: "owner" })
        yield* addGroupMember(tenant, { groupId: 1, userId: 2, role: "admin" })
        yield* addGroupMember(tenant, { groupId: 1, userId: 3, role: "member" })
        yield* addGroupMember(tenant, { groupId: 1, userId: 4, role: "guest" })
        yield* addGroupMember(tenant, { groupId: 1, userId: 5, role: "member" })
        // A draft group gets no room.
        yield* addGroup(tenant, { id: 2, slug: "planning", status: "draft" })
      }),
    )
    const first = await runCli(["apply"], env)
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    const roomId = await synapse.resolveAlias(`#group-hikers-${tenant.id}:${s}`)
    if (roomId === undefined) throw new Error("no room for the group")
    expect(await synapse.resolveAlias(`#group-planning-${tenant.id}:${s}`)).toBeUndefined()
    expect(await synapse.memberships(roomId)).toEqual({
      [bot]: "join",
      [mx(1)]: "invite",
      [mx(2)]: "invite",
      [mx(3)]: "invite",
      [mx(5)]: "invite",
    })
    expect((await synapse.powerLevels(roomId)).users).toEqual({ [bot]: 100, [mx(1)]: 99, [mx(2)]: 75 })

    // A member leaves the group (the row is deleted); another is made moderator; the admin steps down.
    await db.runPromise(
      Effect.gen(function* () {
        yield* removeGroupMember(tenant, { groupId: 1, userId: 5 })
        yield* setGroupMemberRole(tenant, { groupId: 1, userId: 3, role: "moderator" })
        yield* setGroupMemberRole(tenant, { groupId: 1, userId: 2, role: "member" })
      }),
    )
    const planned = await runCli(["plan", "--output", "json", "--room", `group:${tenant.id}:1`], env)
    expect(planned.code).toBe(0)
    const plan = parseJson(planned.stdout)
    expect(plan).toMatchObject({
      rooms: [
        {
          key: `group:${tenant.id}:1`,
          kind: "group",
          status: "drifted",
          actions: [
            { type: "set_power_levels", changes: { [mx(2)]: { from: 75, to: 0 }, [mx(3)]: { from: 0, to: 50 } } },
            { type: "kick", user: mx(5), reason: "not entitled to group 1" },
          ],
        },
      ],
    })
    const applied = await runCli(["apply"], env)
    expect(applied.code).toBe(0)
    expect((await synapse.memberships(roomId))[mx(5)]).toBe("leave")
    expect((await synapse.powerLevels(roomId)).users).toEqual({ [bot]: 100, [mx(1)]: 99, [mx(3)]: 50 })
    expect((await runCli(["plan", "--detailed-exitcode"], env)).code).toBe(0)
  })

  it("holds kicks over the safety caps and for a tenant that looks empty, until confirmed", async () => {
    const tenant = fixtureTenant(uniqueTenantId("cap"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const env = cliEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    const ids = Array.from({ length: 14 }, (_, i) => i + 1)
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant)
        for (const id of ids) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "big" })
        for (const userId of ids) yield* addAttendee(tenant, { eventId: 1, userId, status: "confirmed" })
      }),
    )
    expect((await runCli(["apply"], env)).code).toBe(0)
    const roomId = await synapse.resolveAlias(`#event-big-${tenant.id}:${s}`)
    if (roomId === undefined) throw new Error("no room")

    // Twelve of fourteen cancel: twelve kicks; the per-room cap is max(5, 20% of 14) = 5.
    await db.runPromise(
      Effect.gen(function* () {
        for (const userId of ids.slice(2)) yield* setAttendee(tenant, { eventId: 1, userId, status: "rejected" })
      }),
    )
    const planned = await runCli(["plan", "--output", "json"], env)
    expect(parseJson(planned.stdout)).toMatchObject({ summary: { actions: { kick: 12 }, held: 7 } })
    const applied = await runCli(["apply"], env)
    expect(applied.code).toBe(0)
    expect(applied.stdout).toContain("Held: 7 destructive action(s)")
    const left = () => synapse.memberships(roomId).then((m) => ids.filter((id) => m[mx(id)] === "leave").length)
    expect(await left()).toBe(5)
    // Seven remain, over the cap of 5 for the 9 members left: only confirmation applies them all.
    expect((await runCli(["apply", "--confirm-destructive"], env)).code).toBe(0)
    expect(await left()).toBe(12)

    // Everyone's RSVP disappears (a truncated table?): nothing is kicked without --allow-empty.
    await db.runPromise(
      Effect.gen(function* () {
        for (const userId of [1, 2]) yield* setAttendee(tenant, { eventId: 1, userId, status: "rejected" })
      }),
    )
    const suspicious = await runCli(["apply"], env)
    expect(suspicious.stdout).toContain("Held: 2 destructive action(s)")
    expect(await left()).toBe(12)
    expect((await runCli(["apply", "--allow-empty"], env)).code).toBe(0)
    expect(await left()).toBe(14)
  })

  it("follows a room's life: slug change, cancellation, deletion; records, audit log and status", async () => {
    const tenant = fixtureTenant(uniqueTenantId("life"), s)
    const schema = `rec_${tenant.id}`
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const env = cliEnv(services, { TENANTS_B64: tenantsB64([tenant]), RECONCILER_SCHEMA: schema })
    const sql = (query: string) => db.runPromise(Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe(query)))
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant)
        for (const id of [1, 2]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "first-name", name: "Picnic" })
        yield* addEvent(tenant, { id: 2, slug: "doomed", name: "Doomed" })
        for (const eventId of [1, 2]) {
          for (const userId of [1, 2]) yield* addAttendee(tenant, { eventId, userId, status: "confirmed" })
        }
      }),
    )
    const created = await runCli(["apply"], env)
    expect(created.stderr).toBe("")
    expect(created.code).toBe(0)
    const room1 = await synapse.resolveAlias(`#event-first-name-${tenant.id}:${s}`)
    const room2 = await synapse.resolveAlias(`#event-doomed-${tenant.id}:${s}`)
    if (room1 === undefined || room2 === undefined) throw new Error("rooms missing")

    // The slug changes; the event is cancelled; the other event's row is deleted.
    await sql(`UPDATE "${tenant.schema}".events SET slug = 'new-name', status = 'cancelled' WHERE id = 1`)
    await sql(`DELETE FROM "${tenant.schema}".events WHERE id = 2`)
    const planned = await runCli(["plan", "--output", "json"], env)
    expect(planned.code).toBe(0)
    const newAlias = `#event-new-name-${tenant.id}:${s}`
    expect(parseJson(planned.stdout)).toMatchObject({
      summary: { orphans: 1 },
      rooms: [
        {
          key: `event:${tenant.id}:1`,
          roomId: room1,
          status: "drifted",
          actions: [
            { type: "set_name", to: "[Cancelled] Picnic" },
            { type: "add_alias", alias: newAlias },
            { type: "set_canonical_alias", to: newAlias, altAliases: [`#event-first-name-${tenant.id}:${s}`] },
            { type: "archive", changes: {} },
          ],
        },
        {
          key: `orphan:${tenant.id}:${room2}`,
          alias: `#event-doomed-${tenant.id}:${s}`,
          status: "orphan",
          actions: [],
        },
      ],
    })
    expect((await runCli(["apply"], env)).code).toBe(0)
    expect(await synapse.resolveAlias(newAlias)).toBe(room1)
    expect(await synapse.resolveAlias(`#event-first-name-${tenant.id}:${s}`)).toBe(room1)
    expect((await synapse.powerLevels(room1)).events_default).toBe(50)
    // Members of a cancelled event stay.
    expect(await synapse.memberships(room1)).toMatchObject({ [mx(1)]: "invite", [mx(2)]: "invite" })
    expect((await runCli(["plan", "--detailed-exitcode"], env)).code).toBe(0)

    // With orphanPolicy evict, the orphan's members go.
    const evict = { ...env, RECONCILER_POLICY: "defaults:\n  orphanPolicy: evict\n" }
    expect((await runCli(["apply"], evict)).code).toBe(0)
    expect(await synapse.memberships(room2)).toMatchObject({ [mx(1)]: "leave", [mx(2)]: "leave" })

    // Every applied action is in the audit log, with a trace id; status reads the schema.
    const audit = await sql(`SELECT key, action, result, trace_id FROM "${schema}".audit_log ORDER BY id`)
    expect(audit.length).toBe(2 * 3 + 4 + 2)
    expect(audit.every((row) => typeof Reflect.get(row as object, "trace_id") === "string")).toBe(true)
    const status = await runCli(["status", "--output", "json"], env)
    expect(status.code).toBe(0)
    expect(parseJson(status.stdout)).toMatchObject({
      rooms: [
        { tenant: tenant.id, kind: "event", status: "in_sync", count: 1 },
        { tenant: tenant.id, kind: "orphan", status: "orphan", count: 1 },
      ],
      attention: [],
      lastPass: { failed: 0 },
    })
  })

  it("plans and applies two tenants on two homeservers, each with its own server name and policy", async () => {
    const other = secondHomeserver()
    const otherSynapse = synapseClient(other)
    const a = fixtureTenant(uniqueTenantId("ta"), s)
    const b = fixtureTenant(uniqueTenantId("tb"), other.serverName)
    const tenants = Buffer.from(
      JSON.stringify([
        { id: a.id, name: "A", matrixConfig: { serverName: s } },
        {
          id: b.id,
          name: "B",
          matrixConfig: {
            serverName: other.serverName,
            homeserverUrl: other.homeserverUrl,
            appservice: { id: "openmeet-bot", token: other.asToken, hsToken: other.hsToken },
          },
        },
      ]),
    ).toString("base64")
    const policy = [
      "tenants:",
      `  ${b.id}:`,
      "    eventEntitledStatuses: [confirmed]",
      "    eventLevels: {moderator: 60}",
      "    joinRule: public",
    ].join("\n")
    const env = cliEnv(services, { TENANTS_B64: tenants, RECONCILER_POLICY: policy })
    for (const tenant of [a, b]) {
      await db.runPromise(
        Effect.gen(function* () {
          yield* resetTenant(tenant)
          for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
          yield* addEvent(tenant, { id: 1, slug: "party", visibility: "private" })
          yield* addAttendee(tenant, { eventId: 1, userId: 1, status: "confirmed" })
          yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "cancelled" })
          yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed", role: "moderator" })
        }),
      )
    }
    const ua = (n: number) => `@${a.id}.u${n}:${s}`
    const ub = (n: number) => `@${b.id}.u${n}:${other.serverName}`
    const create = (tenantId: string, server: string, joinRule: string, users: Record<string, number>) => ({
      type: "create_room",
      alias: `#event-party-${tenantId}:${server}`,
      name: "Event 1",
      joinRule,
      historyVisibility: "shared",
      guestAccess: "forbidden",
      users,
      reason: "event 1 has no room",
    })
    const planned = await runCli(["plan", "--output", "json", "--tenant", a.id, "--tenant", b.id], env)
    expect(planned.stderr).toBe("")
    const rooms = Reflect.get(Object(parseJson(planned.stdout)), "rooms")
    expect(rooms).toMatchObject([
      {
        key: `event:${a.id}:1`,
        actions: [
          create(a.id, s, "invite", { [ua(3)]: 50 }),
          { type: "invite", user: ua(1), reason: "attendee status confirmed" },
          { type: "invite", user: ua(2), reason: "attendee status cancelled" },
          { type: "invite", user: ua(3), reason: "attendee status confirmed, role moderator" },
        ],
      },
      {
        key: `event:${b.id}:1`,
        actions: [
          create(b.id, other.serverName, "public", { [ub(3)]: 60 }),
          { type: "invite", user: ub(1), reason: "attendee status confirmed" },
          { type: "invite", user: ub(3), reason: "attendee status confirmed, role moderator" },
        ],
      },
    ])
    expect((await runCli(["apply"], env)).code).toBe(0)
    const roomA = await synapse.resolveAlias(`#event-party-${a.id}:${s}`)
    const roomB = await otherSynapse.resolveAlias(`#event-party-${b.id}:${other.serverName}`)
    expect(await synapse.memberships(roomA ?? "")).toEqual({
      [bot]: "join",
      [ua(1)]: "invite",
      [ua(2)]: "invite",
      [ua(3)]: "invite",
    })
    expect(await otherSynapse.memberships(roomB ?? "")).toEqual({
      [other.botUserId]: "join",
      [ub(1)]: "invite",
      [ub(3)]: "invite",
    })
    expect((await otherSynapse.powerLevels(roomB ?? "")).users).toEqual({ [other.botUserId]: 100, [ub(3)]: 60 })
    expect((await runCli(["plan", "--detailed-exitcode"], env)).code).toBe(0)
  })

  it("a run killed after creating rooms leaves exactly one room per key once apply runs again", async () => {
    const tenant = fixtureTenant(uniqueTenantId("crash"), s)
    const events = 12
    // Join mode: every created room is followed by separate join requests, so the kill
    // lands between a room's creation and the rest of its actions.
    const env = cliEnv(services, {
      TENANTS_B64: tenantsB64([tenant]),
      RECONCILER_POLICY: "defaults:\n  membershipMode: join\n",
      RECONCILE_CONCURRENCY: "2",
    })
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant)
        for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
        for (let id = 1; id <= events; id++) {
          yield* addEvent(tenant, { id, slug: `crash-${id}`, name: `Crash ${tenant.id} ${id}` })
          for (const userId of [1, 2, 3, 4]) yield* addAttendee(tenant, { eventId: id, userId, status: "confirmed" })
        }
      }),
    )
    for (const id of [1, 2, 3, 4]) await synapse.register(`${tenant.id}.u${id}`)
    const aliases = Array.from({ length: events }, (_, i) => `#event-crash-${i + 1}-${tenant.id}:${s}`)

    const child = startCli(["apply"], env)
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
    // Kill it as soon as the first room exists.
    for (let i = 0; i < 1500; i++) {
      if ((await synapse.resolveAlias(aliases[0] ?? "")) !== undefined) break
      await new Promise((r) => setTimeout(r, 10))
    }
    child.kill("SIGKILL")
    await exited
    const createdBeforeKill = (await Promise.all(aliases.map((a) => synapse.resolveAlias(a)))).filter(Boolean).length
    expect(createdBeforeKill).toBeGreaterThan(0)
    expect(createdBeforeKill).toBeLessThan(events)

    const rerun = await runCli(["apply"], env)
    expect(rerun.stderr).toBe("")
    expect(rerun.code).toBe(0)
    const check = await runCli(["plan", "--detailed-exitcode"], env)
    expect(check.code).toBe(0)

    // Exactly one room per key: count the bot's rooms by the names this tenant gave them.
    const names = await Promise.all(
      (await synapse.joinedRooms()).map(async (roomId) => {
        const name = (await synapse.state(roomId)).find((e) => e.type === "m.room.name")?.content.name
        return typeof name === "string" ? name : ""
      }),
    )
    for (let id = 1; id <= events; id++) {
      expect(names.filter((name) => name === `Crash ${tenant.id} ${id}`).length).toBe(1)
    }
    const room = await synapse.resolveAlias(aliases[0] ?? "")
    expect(Object.values(await synapse.memberships(room ?? "")).filter((m) => m === "join").length).toBe(5)
  })
})

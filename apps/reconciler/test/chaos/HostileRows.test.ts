/**
 * Hostile OpenMeet rows: every NULL the real schema allows, labels no migration made,
 * names and slugs at the schema's limits, invalid handles, ids that point nowhere. One
 * tenant holds them all beside a control event; one `apply`, then each case checks what
 * the plan and Synapse say of its room: the expected condition or error, and nothing
 * else lost (the control room and the other users of each room are reconciled). Then the
 * rows of rooms that have members turn unreadable, and no one is kicked or demoted.
 * (Values over 255 characters or duplicate handles the schema itself refuses: cases too.)
 */
import { SqlClient } from "@effect/sql"
import { isRecord } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { reliabilityCase, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "../cli.ts"
import { harness } from "../daemon.ts"

const { services, synapse, db, s } = harness()
const tenant = fixtureTenant(uniqueTenantId("hrw"), s)
const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
const env = cliEnv(services, { TENANTS_B64: tenantsB64([tenant]), RECONCILER_SCHEMA: `rec_${tenant.id}` })
const sql = (query: string) =>
  db.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe(query.replaceAll("$s", `"${tenant.schema}"`))),
  )

interface PlannedRoom {
  readonly key: string
  readonly status: string
  readonly actions: ReadonlyArray<{ readonly type: string; readonly user?: string; readonly held?: boolean }>
  readonly conditions: ReadonlyArray<{ readonly type: string; readonly message: string }>
  readonly roomId: string | null
}

const planRooms = async (): Promise<ReadonlyMap<string, PlannedRoom>> => {
  const result = await runCli(["plan", "--output", "json"], env)
  const plan: unknown = JSON.parse(result.stdout)
  const rooms = isRecord(plan) && Array.isArray(plan.rooms) ? plan.rooms : []
  const out = new Map<string, PlannedRoom>()
  for (const room of rooms) {
    if (!isRecord(room) || typeof room.key !== "string") continue
    out.set(room.key.replace(`:${tenant.id}:`, ":"), {
      key: room.key,
      status: String(room.status),
      actions: Array.isArray(room.actions)
        ? room.actions.filter(isRecord).map((a) => ({ ...a, type: String(a.type) }))
        : [],
      conditions: Array.isArray(room.conditions)
        ? room.conditions.filter(isRecord).map((c) => ({ type: String(c.type), message: String(c.message) }))
        : [],
      roomId: typeof room.roomId === "string" ? room.roomId : null,
    })
  }
  return out
}

/** Seeds every hostile row; event 100 is the control. */
const seed = () =>
  db.runPromise(
    Effect.gen(function* () {
      const q = yield* SqlClient.SqlClient
      const run = (text: string) => q.unsafe(text.replaceAll("$s", `"${tenant.schema}"`))
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) yield* addUser(tenant, { id })
      yield* addUser(tenant, { id: 11, handle: null })
      yield* addUser(tenant, { id: 12, statusId: null })
      yield* addUser(tenant, { id: 13, statusId: 2 })
      yield* addUser(tenant, { id: 14 })
      yield* run(`UPDATE $s.users SET "deletedAt" = now() WHERE id = 14`)
      yield* addUser(tenant, { id: 15, handle: `Has Spaces ${tenant.id}` })
      yield* addUser(tenant, { id: 16, handle: `UPPER.${tenant.id}` })
      // Labels no migration made, and a role name OpenMeet's seeds never had.
      yield* run(`ALTER TYPE $s."events_status_enum" ADD VALUE IF NOT EXISTS 'archived'`)
      yield* run(`ALTER TYPE $s."events_visibility_enum" ADD VALUE IF NOT EXISTS 'secret'`)
      yield* run(`ALTER TYPE $s."eventAttendees_status_enum" ADD VALUE IF NOT EXISTS 'teleported'`)
      yield* run(`ALTER TYPE $s."groups_visibility_enum" ADD VALUE IF NOT EXISTS 'hidden'`)
      yield* run(`INSERT INTO $s."eventRoles" (id, name) VALUES (90, 'superhost')`)

      const event = (id: number, row: Partial<Parameters<typeof addEvent>[1]> = {}) =>
        addEvent(tenant, { id, slug: `e${id}`, userId: 1, visibility: "private", ...row })
      const attend = (eventId: number, userId: number, status: string | null = "confirmed") =>
        addAttendee(tenant, { eventId, userId, status })
      yield* event(100, { slug: "control" })
      yield* attend(100, 2)
      yield* event(1, { status: null })
      yield* attend(1, 2)
      yield* event(2, { visibility: null })
      yield* attend(2, 2)
      yield* event(3, { userId: null })
      yield* attend(3, 2)
      yield* event(4)
      yield* attend(4, 2, null)
      yield* attend(4, 3)
      yield* event(5)
      yield* addAttendee(tenant, { eventId: 5, userId: 2, status: "confirmed", roleId: 999 })
      yield* attend(5, 3)
      yield* event(6)
      yield* attend(6, 11)
      yield* attend(6, 3)
      yield* event(7)
      yield* attend(7, 12)
      yield* attend(7, 3)
      yield* event(8)
      yield* attend(8, 14)
      yield* attend(8, 3)
      yield* event(9)
      yield* attend(9, 13)
      yield* attend(9, 3)
      yield* event(10, { status: "archived" })
      yield* attend(10, 2)
      yield* event(11, { visibility: "secret" })
      yield* attend(11, 2)
      yield* event(12)
      yield* attend(12, 2, "teleported")
      yield* attend(12, 3)
      yield* event(13)
      yield* addAttendee(tenant, { eventId: 13, userId: 2, status: "confirmed", roleId: 90 })
      yield* attend(13, 3)
      yield* event(14, { slug: "x".repeat(255) })
      yield* attend(14, 2)
      yield* event(15, { slug: "two words" })
      yield* attend(15, 2)
      yield* event(16, { slug: "with:colon" })
      yield* attend(16, 2)
      yield* event(17, { slug: "" })
      yield* attend(17, 2)
      yield* event(18, { slug: "café-☕" })
      yield* attend(18, 2)
      yield* event(19, { name: "n".repeat(255) })
      yield* attend(19, 2)
      yield* event(20, { name: "line\nbreak \u202eevil\u0007" })
      yield* attend(20, 2)
      yield* event(21, { matrixRoomId: "not-a-room-id" })
      yield* attend(21, 2)
      yield* event(22, { matrixRoomId: `!nonexistent:${s}` })
      yield* attend(22, 2)
      yield* event(24)
      yield* attend(24, 15)
      yield* attend(24, 3)
      yield* event(25)
      yield* attend(25, 16)
      yield* attend(25, 3)
      // A registry row for a user the tenant does not have.
      yield* run(
        `INSERT INTO public."matrixHandleRegistry" (handle, "tenantId", "userId") VALUES ('${tenant.id}.ghost', '${tenant.id}', 9999)`,
      )

      const group = (id: number, row: Partial<Parameters<typeof addGroup>[1]> = {}) =>
        addGroup(tenant, { id, slug: `g${id}`, visibility: "private", ...row })
      yield* group(1)
      yield* addGroupMember(tenant, { groupId: 1, userId: 2, role: null })
      yield* addGroupMember(tenant, { groupId: 1, userId: 3, role: "member" })
      yield* group(2)
      yield* addGroupMember(tenant, { groupId: 2, userId: null, role: "member" })
      yield* addGroupMember(tenant, { groupId: null, userId: 2, role: "admin" })
      yield* addGroupMember(tenant, { groupId: 2, userId: 3, role: "member" })
      yield* group(3)
      yield* addGroupMember(tenant, { groupId: 3, userId: 2, role: "member" })
      yield* addGroupMember(tenant, { groupId: 3, userId: 2, role: "admin" })
      yield* group(4, { slug: "same" })
      yield* addGroupMember(tenant, { groupId: 4, userId: 2, role: "member" })
      yield* group(5, { slug: "same" })
      yield* addGroupMember(tenant, { groupId: 5, userId: 2, role: "member" })
      yield* group(6, { status: null })
      yield* addGroupMember(tenant, { groupId: 6, userId: 2, role: "member" })
      yield* group(7, { visibility: "hidden" })
      yield* addGroupMember(tenant, { groupId: 7, userId: 2, role: "member" })
    }),
  )

let before: ReadonlyMap<string, PlannedRoom> = new Map()
let after: ReadonlyMap<string, PlannedRoom> = new Map()
let applyExit = -1

beforeAll(async () => {
  await seed()
  before = await planRooms()
  applyExit = (await runCli(["apply"], env)).code
  after = await planRooms()
}, 240_000)

const alias = (key: string, slug: string) => `#${key.split(":")[0]}-${slug}-${tenant.id}:${s}`
const membersOf = async (key: string, slug: string) => {
  const room = await synapse.resolveAlias(alias(key, slug))
  return room === undefined ? undefined : synapse.memberships(room)
}
const conditionOf = (key: string, type: string) =>
  (before.get(key)?.conditions ?? []).filter((c) => c.type === type).map((c) => c.message)

interface RowCase {
  readonly name: string
  readonly expected: string
  readonly check: () => Promise<void>
}

/** The room exists with these memberships (the others' invites went through). */
const roomWith = (key: string, slug: string, members: Record<string, string>) => async () => {
  expect(await membersOf(key, slug)).toMatchObject(members)
  expect(after.get(key)?.status).toBe("in_sync")
}
/** No room, and the plan shows an error naming the row. */
const failsWith = (key: string, slug: string, message: string) => async () => {
  expect(before.get(key)?.status).toBe("error")
  expect(before.get(key)?.actions).toEqual([])
  expect(conditionOf(key, "error").join("; ")).toContain(message)
  if (slug !== "") expect(await synapse.resolveAlias(alias(key, slug))).toBeUndefined()
}
/** An undecided row: that user is left as is, the rest of the room goes through. */
const leavesAsIs = (key: string, slug: string, message: string, others: Record<string, string>) => async () => {
  expect(conditionOf(key, "undecided").join("; ")).toContain(message)
  await roomWith(key, slug, others)()
}

const cases: ReadonlyArray<RowCase> = [
  {
    name: "event status NULL",
    expected: "no room (treated as a draft)",
    check: async () => {
      expect(before.has("event:1")).toBe(false)
      expect(await synapse.resolveAlias(alias("event", "e1"))).toBeUndefined()
    },
  },
  {
    name: "event visibility NULL",
    expected: "an invite-only room",
    check: async () => {
      await roomWith("event:2", "e2", { [mx(2)]: "invite" })()
      const room = await synapse.resolveAlias(alias("event", "e2"))
      const rule = (await synapse.state(room ?? "")).find((e) => e.type === "m.room.join_rules")?.content.join_rule
      expect(rule).toBe("invite")
    },
  },
  {
    name: "event owner NULL",
    expected: "a room with its attendees, no owner",
    check: roomWith("event:3", "e3", { [mx(2)]: "invite" }),
  },
  {
    name: "attendee status NULL",
    expected: "that attendee not invited, the others are",
    check: async () => {
      await roomWith("event:4", "e4", { [mx(3)]: "invite" })()
      expect((await membersOf("event", "e4"))?.[mx(2)]).toBeUndefined()
    },
  },
  {
    name: "attendee roleId naming no role",
    expected: "undecided: that user left as is",
    check: leavesAsIs("event:5", "e5", "role id 999 names no eventRoles row", { [mx(3)]: "invite" }),
  },
  {
    name: "attendee whose user has no handle",
    expected: "pending handle, nothing guessed",
    check: roomWith("event:6", "e6", { [mx(3)]: "invite" }),
  },
  {
    name: "attendee whose user's statusId is NULL",
    expected: "not entitled",
    check: async () => {
      await roomWith("event:7", "e7", { [mx(3)]: "invite" })()
      expect((await membersOf("event", "e7"))?.[mx(12)]).toBeUndefined()
    },
  },
  {
    name: "attendee whose user is deleted (deletedAt)",
    expected: "not entitled",
    check: async () => {
      await roomWith("event:8", "e8", { [mx(3)]: "invite" })()
      expect((await membersOf("event", "e8"))?.[mx(14)]).toBeUndefined()
    },
  },
  {
    name: "attendee whose user is inactive",
    expected: "not entitled",
    check: async () => {
      await roomWith("event:9", "e9", { [mx(3)]: "invite" })()
      expect((await membersOf("event", "e9"))?.[mx(13)]).toBeUndefined()
    },
  },
  {
    name: "an event status label no migration made",
    expected: "room error, nothing done",
    check: failsWith("event:10", "e10", 'unknown status "archived"'),
  },
  {
    name: "an event visibility label no migration made",
    expected: "room error, nothing done",
    check: failsWith("event:11", "e11", 'unknown visibility "secret"'),
  },
  {
    name: "an attendee status label no migration made",
    expected: "undecided: that user left as is",
    check: leavesAsIs("event:12", "e12", 'unknown status "teleported"', { [mx(3)]: "invite" }),
  },
  {
    name: "an event role name OpenMeet never had",
    expected: "undecided: that user left as is",
    check: leavesAsIs("event:13", "e13", 'unknown role "superhost"', { [mx(3)]: "invite" }),
  },
  {
    name: "a 255-character slug (the column's limit)",
    expected: "room error: the alias would be over 255 characters",
    check: failsWith("event:14", "", "is longer than 255 characters"),
  },
  {
    name: "a slug with white space",
    expected: "room error naming it",
    check: failsWith("event:15", "", "contains white space"),
  },
  {
    name: "a slug with ':'",
    expected: "room error naming it",
    check: failsWith("event:16", "", "contains ':' in its local part"),
  },
  {
    name: "an empty slug",
    expected: "room error naming it",
    check: failsWith("event:17", "", "slug is NULL or empty"),
  },
  {
    name: "a slug with non-ASCII characters",
    expected: "a room with that alias",
    check: roomWith("event:18", "café-☕", { [mx(2)]: "invite" }),
  },
  {
    name: "a 255-character name",
    expected: "a room with that name",
    check: async () => {
      await roomWith("event:19", "e19", { [mx(2)]: "invite" })()
      const room = await synapse.resolveAlias(alias("event", "e19"))
      expect((await synapse.state(room ?? "")).find((e) => e.type === "m.room.name")?.content.name).toBe(
        "n".repeat(255),
      )
    },
  },
  {
    name: "a name with a line break, a right-to-left override and a control character",
    expected: "a room with that name as written",
    check: roomWith("event:20", "e20", { [mx(2)]: "invite" }),
  },
  {
    name: "matrixRoomId that is not a room id",
    expected: "the room found by its alias (made)",
    check: roomWith("event:21", "e21", { [mx(2)]: "invite" }),
  },
  {
    name: "matrixRoomId of a room that does not exist",
    expected: "the room found by its alias (made)",
    check: roomWith("event:22", "e22", { [mx(2)]: "invite" }),
  },
  {
    name: "a handle with white space",
    expected: "undecided: that user left as is",
    check: leavesAsIs("event:24", "e24", "is not a valid Matrix localpart", { [mx(3)]: "invite" }),
  },
  {
    name: "a handle with capitals",
    expected: "undecided: that user left as is",
    check: leavesAsIs("event:25", "e25", "is not a valid Matrix localpart", { [mx(3)]: "invite" }),
  },
  {
    name: "a registry row for a user the tenant does not have",
    expected: "ignored",
    check: async () => {
      expect([...before.values()].flatMap((r) => r.actions).some((a) => a.user === `@${tenant.id}.ghost:${s}`)).toBe(
        false,
      )
    },
  },
  {
    name: "a group member with a NULL role",
    expected: "not an entitlement; the others invited",
    check: async () => {
      await roomWith("group:1", "g1", { [mx(3)]: "invite" })()
      expect((await membersOf("group", "g1"))?.[mx(2)]).toBeUndefined()
    },
  },
  {
    name: "group member rows with a NULL user or a NULL group",
    expected: "ignored; the others invited",
    check: roomWith("group:2", "g2", { [mx(3)]: "invite" }),
  },
  {
    name: "two member rows for one user (member and admin)",
    expected: "the higher role: admin, level 75",
    check: async () => {
      await roomWith("group:3", "g3", { [mx(2)]: "invite" })()
      const room = await synapse.resolveAlias(alias("group", "g3"))
      expect((await synapse.powerLevels(room ?? "")).users).toMatchObject({ [mx(2)]: 75 })
    },
  },
  {
    name: "two groups with one slug",
    expected: "both rooms in error, neither made",
    check: async () => {
      await failsWith("group:4", "same", "is also used by groups id 5")()
      await failsWith("group:5", "same", "is also used by groups id 4")()
    },
  },
  {
    name: "group status NULL",
    expected: "no room (treated as a draft)",
    check: async () => {
      expect(before.has("group:6")).toBe(false)
    },
  },
  {
    name: "a group visibility label no migration made",
    expected: "room error, nothing done",
    check: failsWith("group:7", "g7", 'unknown visibility "hidden"'),
  },
  {
    name: "the control event beside them all",
    expected: "reconciled as usual",
    check: async () => {
      await roomWith("event:100", "control", { [mx(2)]: "invite", [mx(1)]: "invite" })()
      expect(applyExit).toBe(1)
    },
  },
  {
    name: "a 10 kB name",
    expected: "refused by OpenMeet's schema (varchar(255))",
    check: async () => {
      await expect(sql(`UPDATE $s.events SET name = '${"n".repeat(10_000)}' WHERE id = 100`)).rejects.toThrow()
    },
  },
  {
    name: "a 10 kB slug",
    expected: "refused by OpenMeet's schema (varchar(255))",
    check: async () => {
      await expect(sql(`UPDATE $s.groups SET slug = '${"s".repeat(10_000)}' WHERE id = 1`)).rejects.toThrow()
    },
  },
  {
    name: "a handle another user has, in other letter case",
    expected: "refused by the registry (unique lower(handle))",
    check: async () => {
      await expect(
        sql(
          `INSERT INTO public."matrixHandleRegistry" (handle, "tenantId", "userId") VALUES ('${tenant.id.toUpperCase()}.U2', '${tenant.id}', 20)`,
        ),
      ).rejects.toThrow()
    },
  },
  {
    name: "an attendee row for a user id that does not exist",
    expected: "refused by the schema (foreign key)",
    check: async () => {
      await expect(
        sql(
          `INSERT INTO $s."eventAttendees" ("eventId", "userId", status, "roleId") VALUES (100, 9999, 'confirmed', 41)`,
        ),
      ).rejects.toThrow()
    },
  },
]

describe("hostile OpenMeet rows: one apply, then each room as expected", () => {
  it.each(cases)("$name", async (c) => {
    await reliabilityCase({ class: "hostile-rows", case: c.name, expected: c.expected }, async (measure) => {
      measure.faults = 1
      await c.check()
      measure.survived = 1
    })
  })
})

/** Rows of rooms with members turn unreadable: nobody is kicked or demoted for it. */
const unreadable: ReadonlyArray<{
  readonly name: string
  readonly change: string
  readonly key: string
  readonly slug: string
  readonly kept: Record<string, string>
}> = [
  {
    name: "an invited attendee's roleId starts naming no role",
    change: `UPDATE $s."eventAttendees" SET "roleId" = 999 WHERE "eventId" = 100 AND "userId" = 2`,
    key: "event:100",
    slug: "control",
    kept: { [mx(2)]: "invite" },
  },
  {
    name: "an invited attendee's status becomes a label no migration made",
    change: `UPDATE $s."eventAttendees" SET status = 'teleported' WHERE "eventId" = 4 AND "userId" = 3`,
    key: "event:4",
    slug: "e4",
    kept: { [mx(3)]: "invite" },
  },
  {
    name: "a room's event status becomes a label no migration made",
    change: `UPDATE $s.events SET status = 'archived' WHERE id = 2`,
    key: "event:2",
    slug: "e2",
    kept: { [mx(2)]: "invite", [mx(1)]: "invite" },
  },
  {
    name: "a room's event visibility becomes a label no migration made",
    change: `UPDATE $s.events SET visibility = 'secret' WHERE id = 3`,
    key: "event:3",
    slug: "e3",
    kept: { [mx(2)]: "invite" },
  },
  {
    name: "a group admin's second row loses its role (NULL)",
    change: `UPDATE $s."groupMembers" SET "groupRoleId" = NULL WHERE "groupId" = 3 AND "groupRoleId" = (SELECT id FROM $s."groupRoles" WHERE name = 'member')`,
    key: "group:3",
    slug: "g3",
    kept: { [mx(2)]: "invite" },
  },
]

describe("hostile OpenMeet rows: rows of rooms with members turn unreadable, and no one is kicked or demoted", () => {
  it.each(unreadable)("$name", async (c) => {
    await reliabilityCase(
      { class: "hostile-rows", case: c.name, expected: "no kick, no demotion" },
      async (measure) => {
        measure.faults = 1
        const levelsBefore = (await synapse.powerLevels((await synapse.resolveAlias(alias(c.key, c.slug))) ?? "")).users
        await sql(c.change)
        const result = await runCli(["apply", "--output", "json"], env)
        const applied: unknown = JSON.parse(result.stdout)
        const actions =
          isRecord(applied) && isRecord(applied.apply) && Array.isArray(applied.apply.actions)
            ? applied.apply.actions
            : []
        const harmful = actions.filter(
          (a) =>
            isRecord(a) &&
            a.key === `${c.key.split(":")[0]}:${tenant.id}:${c.key.split(":")[1]}` &&
            isRecord(a.action) &&
            (a.action.type === "kick" || a.action.type === "set_power_levels" || a.action.type === "archive"),
        )
        measure.wrongKicks = harmful.length
        const room = (await synapse.resolveAlias(alias(c.key, c.slug))) ?? ""
        expect(await synapse.memberships(room)).toMatchObject(c.kept)
        expect((await synapse.powerLevels(room)).users).toEqual(levelsBefore)
        expect(harmful).toEqual([])
        measure.survived = 1
      },
    )
  })
})

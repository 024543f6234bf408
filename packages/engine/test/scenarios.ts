import type { EventRow, GroupRow } from "@openmeet-reconciler/openmeet/testing"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  removeGroupMember,
  setAttendee,
} from "@openmeet-reconciler/openmeet/testing"
import { Effect } from "effect"
import { expect } from "vitest"
import type { Scenario, World } from "./catalogue.ts"

type Attendee = readonly [user: number, status: string, role?: string]

/** Event `id` (slug `ev`/`ev<id>`, published, public unless said) with these attendees. */
export const anEvent = async (w: World, attendees: ReadonlyArray<Attendee>, extra: Partial<EventRow> = {}, id = 1) => {
  await w.rows(addEvent(w.tenant, { id, slug: id === 1 ? "ev" : `ev${id}`, ...extra }))
  await w.rows(
    Effect.forEach(
      attendees,
      ([userId, status, role]) => addAttendee(w.tenant, { eventId: id, userId, status, ...(role ? { role } : {}) }),
      { discard: true },
    ),
  )
}

const aGroup = async (w: World, members: ReadonlyArray<readonly [number, string]>, extra: Partial<GroupRow> = {}) => {
  await w.rows(addGroup(w.tenant, { id: 1, slug: "gr", ...extra }))
  await w.rows(
    Effect.forEach(members, ([userId, role]) => addGroupMember(w.tenant, { groupId: 1, userId, role }), {
      discard: true,
    }),
  )
}

export const memberships = async (w: World, kind: "event" | "group" = "event", slug = kind === "event" ? "ev" : "gr") =>
  w.synapse.memberships(await w.room(kind, slug))

const users = async (w: World, kind: "event" | "group" = "event", slug = kind === "event" ? "ev" : "gr") =>
  (await w.synapse.powerLevels(await w.room(kind, slug))).users

/** Gives user n a level in the event room and joins them (a human moderator, say). */
const moderator = async (w: World, n: number) => {
  const roomId = await w.room("event", "ev")
  await w.register(n)
  await w.synapse.inviteAs(w.bot, roomId, w.mx(n))
  await w.synapse.joinAs(w.mx(n), roomId)
  await w.levels(roomId, { users: { [w.mx(n)]: 50 } })
}

/**
 * A room made outside the reconciler (OpenMeet's lazy creation, a legacy room) with the
 * event's alias and the settings the policy wants, plus `extra` createRoom fields.
 */
export const roomMadeElsewhere = async (w: World, extra: { room_version?: string; encrypted?: boolean } = {}) => {
  const alias = w.alias("event", "ev")
  await w.synapse.call("POST", "/_matrix/client/v3/createRoom", {
    room_alias_name: alias.slice(1, alias.indexOf(":")),
    ...(extra.room_version === undefined ? {} : { room_version: extra.room_version }),
    preset: "public_chat",
    name: "Event 1",
    initial_state: [
      ...(extra.encrypted === true
        ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }]
        : []),
      { type: "m.room.guest_access", state_key: "", content: { guest_access: "forbidden" } },
    ],
  })
}

export const scenarios: ReadonlyArray<Scenario> = [
  // ── §2 Which rooms should exist ─────────────────────────────────────────────
  {
    section: "§2 rooms",
    name: "published event: room created with alias, settings, levels and invites",
    converge: false,
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed", "host"],
          [2, "confirmed"],
        ],
        { visibility: "private", name: "Picnic" },
      ),
    actions: (w) => ({ "event:1": ["create_room", `invite ${w.mx(1)}`, `invite ${w.mx(2)}`] }),
    statuses: () => ({ "event:1": "missing" }),
    after: async (w) => {
      const roomId = await w.room("event", "ev")
      const state = await w.synapse.state(roomId)
      const content = (type: string) => state.find((e) => e.type === type)?.content
      expect(content("m.room.name")).toEqual({ name: "Picnic" })
      expect(content("m.room.join_rules")).toEqual({ join_rule: "invite" })
      expect(content("m.room.history_visibility")).toEqual({ history_visibility: "shared" })
      expect(content("m.room.guest_access")).toEqual({ guest_access: "forbidden" })
      expect(content("m.room.canonical_alias")).toEqual({ alias: w.alias("event", "ev") })
      expect(await users(w)).toEqual({ [w.bot]: 100, [w.mx(1)]: 99 })
      expect(await memberships(w)).toEqual({ [w.bot]: "join", [w.mx(1)]: "invite", [w.mx(2)]: "invite" })
    },
  },
  ...(["draft", "pending", null] as const).map(
    (status): Scenario => ({
      section: "§2 rooms",
      name: `${status ?? "NULL"} event: no room is created`,
      converge: false,
      setup: (w) => anEvent(w, [[1, "confirmed"]], { status }),
      actions: () => ({}),
      after: async (w) => expect(await w.synapse.resolveAlias(w.alias("event", "ev"))).toBeUndefined(),
    }),
  ),
  {
    section: "§2 rooms",
    name: "draft event with an existing room: managed like a published one",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.sql(`UPDATE $s.events SET status = 'draft' WHERE id = 1`)
      await w.rows(addAttendee(w.tenant, { eventId: 1, userId: 2, status: "confirmed" }))
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(2)}`] }),
  },
  {
    section: "§2 rooms",
    name: "cancelled event: the room is archived, members stay",
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed"],
          [2, "confirmed"],
        ],
        { name: "Picnic" },
      ),
    change: (w) => w.sql(`UPDATE $s.events SET status = 'cancelled' WHERE id = 1`),
    actions: () => ({ "event:1": ["set_name", "archive"] }),
    after: async (w) => {
      const roomId = await w.room("event", "ev")
      expect((await w.synapse.powerLevels(roomId)).events_default).toBe(50)
      const name = (await w.synapse.state(roomId)).find((e) => e.type === "m.room.name")?.content
      expect(name).toEqual({ name: "[Cancelled] Picnic" })
      expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "invite", [w.mx(2)]: "invite" })
    },
  },
  {
    section: "§2 rooms",
    name: "cancelled event without a room: none is created",
    converge: false,
    setup: (w) => anEvent(w, [[1, "confirmed"]], { status: "cancelled" }),
    actions: () => ({}),
  },
  {
    section: "§2 rooms",
    name: "published group: room created; draft group: none",
    converge: false,
    setup: async (w) => {
      await aGroup(w, [
        [1, "owner"],
        [2, "member"],
      ])
      await w.rows(addGroup(w.tenant, { id: 2, slug: "gr2", status: "draft" }))
    },
    actions: (w) => ({ "group:1": ["create_room", `invite ${w.mx(1)}`, `invite ${w.mx(2)}`] }),
    after: async (w) => expect(await w.synapse.resolveAlias(w.alias("group", "gr2"))).toBeUndefined(),
  },
  ...(["report", "archive", "evict"] as const).map(
    (orphanPolicy): Scenario => ({
      section: "§2 orphans",
      name: `deleted event, orphanPolicy ${orphanPolicy}`,
      policy: { orphanPolicy },
      setup: async (w) => {
        await anEvent(w, [
          [1, "confirmed"],
          [2, "confirmed"],
        ])
        // Another event keeps the tenant from looking empty (that case holds every kick).
        await anEvent(w, [[3, "confirmed"]], {}, 2)
      },
      change: (w) => w.sql(`DELETE FROM $s.events WHERE id = 1`),
      actions: (w) => ({
        orphan: { report: [], archive: ["archive"], evict: [`kick ${w.mx(1)}`, `kick ${w.mx(2)}`] }[orphanPolicy],
      }),
      statuses: () => ({ orphan: "orphan" }),
      after: async (w) => {
        const roomId = await w.room("event", "ev")
        const m = await w.synapse.memberships(roomId)
        expect(m[w.mx(1)]).toBe(orphanPolicy === "evict" ? "leave" : "invite")
        expect((await w.synapse.powerLevels(roomId)).events_default).toBe(orphanPolicy === "archive" ? 50 : 0)
      },
    }),
  ),
  {
    section: "§2 orphans",
    name: "a tenant with a failed room only reports its orphans, even with evict",
    policy: { orphanPolicy: "evict" },
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.sql(`DELETE FROM $s.events WHERE id = 1`)
      await anEvent(w, [[2, "confirmed"]], { slug: "has space" }, 2)
    },
    actions: () => ({ orphan: [], "event:2": [] }),
    statuses: () => ({ orphan: "orphan", "event:2": "error" }),
  },
  {
    section: "§2 identity",
    name: "room found by matrixRoomId (made without our alias): alias added and made canonical",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      const created = await w.synapse.call("POST", "/_matrix/client/v3/createRoom", {
        preset: "public_chat",
        name: "Event 1",
        initial_state: [{ type: "m.room.guest_access", state_key: "", content: { guest_access: "forbidden" } }],
      })
      await w.sql(
        `UPDATE $s.events SET "matrixRoomId" = '${String(Reflect.get(Object(created), "room_id"))}' WHERE id = 1`,
      )
    },
    actions: (w) => ({ "event:1": ["add_alias", "set_canonical_alias", `invite ${w.mx(1)}`] }),
    after: async (w) => expect(await w.synapse.resolveAlias(w.alias("event", "ev"))).toBeDefined(),
  },
  {
    section: "§2 identity",
    name: "room adopted by alias when created elsewhere (OpenMeet's lazy creation)",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await roomMadeElsewhere(w)
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(1)}`] }),
  },
  {
    section: "§2 identity",
    name: "slug change: new alias canonical, old one kept as alt alias; both resolve",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: (w) => w.sql(`UPDATE $s.events SET slug = 'renamed' WHERE id = 1`),
    actions: () => ({ "event:1": ["add_alias", "set_canonical_alias"] }),
    after: async (w) => {
      const roomId = await w.room("event", "renamed")
      expect(await w.synapse.resolveAlias(w.alias("event", "ev"))).toBe(roomId)
      const content = (await w.synapse.state(roomId)).find((e) => e.type === "m.room.canonical_alias")?.content
      expect(content).toEqual({ alias: w.alias("event", "renamed"), alt_aliases: [w.alias("event", "ev")] })
    },
  },
  {
    section: "§2 settings",
    name: "name, join rule, history visibility and guest access drift are corrected",
    setup: (w) => anEvent(w, [[1, "confirmed"]], { name: "Picnic" }),
    change: async (w) => {
      const roomId = await w.room("event", "ev")
      const put = (type: string, content: Record<string, unknown>) =>
        w.synapse.call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/`, content)
      await put("m.room.name", { name: "Hijacked" })
      await put("m.room.join_rules", { join_rule: "invite" })
      await put("m.room.history_visibility", { history_visibility: "world_readable" })
      await put("m.room.guest_access", { guest_access: "can_join" })
    },
    actions: () => ({ "event:1": ["set_name", "set_join_rule", "set_history_visibility", "set_guest_access"] }),
  },
  {
    section: "§2 settings",
    name: "visibility change: public → private makes the room invite-only",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: (w) => w.sql(`UPDATE $s.events SET visibility = 'private' WHERE id = 1`),
    actions: () => ({ "event:1": ["set_join_rule"] }),
  },
  {
    section: "§2 settings",
    name: "an encrypted legacy room is reported and still managed",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await roomMadeElsewhere(w, { encrypted: true })
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(1)}`] }),
    conditions: () => ({ "event:1": ["encrypted"] }),
  },

  // ── §3 Who should be in a room ──────────────────────────────────────────────
  {
    section: "§3 entitlement",
    name: "event: entitled statuses in, others out; hosts and moderators in any status but rejected; owner without a row",
    converge: false,
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed"],
          [2, "attended"],
          [3, "cancelled"],
          [4, "waitlist"],
          [5, "pending", "moderator"],
          [6, "rejected", "host"],
          [7, "maybe"],
        ],
        { userId: 8 },
      ),
    actions: (w) => ({ "event:1": ["create_room", ...[1, 2, 3, 5, 8].map((n) => `invite ${w.mx(n)}`)] }),
    after: async (w) => expect(await users(w)).toEqual({ [w.bot]: 100, [w.mx(5)]: 50, [w.mx(8)]: 99 }),
  },
  {
    section: "§3 entitlement",
    name: "group: owner, admin, moderator, member in; guest out",
    converge: false,
    setup: (w) =>
      aGroup(w, [
        [1, "owner"],
        [2, "admin"],
        [3, "moderator"],
        [4, "member"],
        [5, "guest"],
      ]),
    actions: (w) => ({ "group:1": ["create_room", ...[1, 2, 3, 4].map((n) => `invite ${w.mx(n)}`)] }),
    after: async (w) =>
      expect(await users(w, "group")).toEqual({ [w.bot]: 100, [w.mx(1)]: 99, [w.mx(2)]: 75, [w.mx(3)]: 50 }),
  },
  {
    section: "§3 entitlement",
    name: "inactive users and users without a handle are not invited",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
        [3, "confirmed"],
      ])
      await w.sql(`UPDATE $s.users SET "statusId" = 2 WHERE id = 2`)
      await w.sql(`DELETE FROM public."matrixHandleRegistry" WHERE "tenantId" = '$t' AND "userId" = 3`)
    },
    actions: (w) => ({ "event:1": ["create_room", `invite ${w.mx(1)}`] }),
  },
  {
    section: "§3 membership",
    name: "absent and entitled: invite",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: (w) => w.rows(addAttendee(w.tenant, { eventId: 1, userId: 2, status: "confirmed" })),
    actions: (w) => ({ "event:1": [`invite ${w.mx(2)}`] }),
    after: async (w) => expect((await memberships(w))[w.mx(2)]).toBe("invite"),
  },
  {
    section: "§3 membership",
    name: "absent and entitled, membershipMode join: joined through the appservice",
    policy: { membershipMode: "join" },
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await w.register(1)
      await w.register(2)
    },
    change: (w) => w.rows(addAttendee(w.tenant, { eventId: 1, userId: 2, status: "confirmed" })),
    actions: (w) => ({ "event:1": [`join ${w.mx(2)}`] }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "join", [w.mx(2)]: "join" }),
  },
  {
    section: "§3 membership",
    name: "invited or joined and entitled: nothing",
    setup: async (w) => {
      await anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
      ])
    },
    change: async (w) => {
      await w.register(2)
      await w.synapse.joinAs(w.mx(2), await w.room("event", "ev"))
    },
    actions: () => ({ "event:1": [] }),
  },
  {
    section: "§3 membership",
    name: "left by themselves: nothing (respectLeave)",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.register(1)
      await w.synapse.leaveAs(w.mx(1), await w.room("event", "ev"))
    },
    actions: () => ({ "event:1": [] }),
    after: async (w) => expect((await memberships(w))[w.mx(1)]).toBe("leave"),
  },
  {
    section: "§3 membership",
    name: "left by themselves, respectLeave false: invited again",
    policy: { respectLeave: false },
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.register(1)
      await w.synapse.leaveAs(w.mx(1), await w.room("event", "ev"))
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(1)}`] }),
  },
  {
    section: "§3 membership",
    name: "kicked by a human moderator: not invited again (respectKicks)",
    setup: (w) => anEvent(w, [[1, "confirmed"]], { visibility: "private" }),
    change: async (w) => {
      await moderator(w, 9)
      await w.synapse.kickAs(w.mx(9), await w.room("event", "ev"), w.mx(1))
    },
    // The moderator is not entitled: their level and membership go.
    actions: (w) => ({ "event:1": ["set_power_levels", `kick ${w.mx(9)}`] }),
    after: async (w) => expect((await memberships(w))[w.mx(1)]).toBe("leave"),
  },
  {
    section: "§3 membership",
    name: "kicked by a human moderator, respectKicks false: invited again",
    policy: { respectKicks: false },
    setup: (w) =>
      anEvent(w, [
        [1, "confirmed"],
        [9, "confirmed", "moderator"],
      ]),
    change: async (w) => {
      await w.register(9)
      const roomId = await w.room("event", "ev")
      await w.synapse.joinAs(w.mx(9), roomId)
      await w.synapse.kickAs(w.mx(9), roomId, w.mx(1))
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(1)}`] }),
  },
  {
    section: "§3 membership",
    name: "kicked by the bot, entitled again: invited again",
    setup: (w) =>
      anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
      ]),
    change: async (w) => {
      await w.rows(setAttendee(w.tenant, { eventId: 1, userId: 1, status: "rejected" }))
      // A pass kicks them; then they RSVP again.
      await w.pass()
      await w.rows(setAttendee(w.tenant, { eventId: 1, userId: 1, status: "confirmed" }))
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(1)}`] }),
  },
  {
    section: "§3 membership",
    name: "banned: nothing, reported",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.synapse.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(await w.room("event", "ev"))}/ban`, {
        user_id: w.mx(1),
      })
    },
    actions: () => ({ "event:1": [] }),
    conditions: () => ({ "event:1": ["banned"] }),
  },
  {
    section: "§3 membership",
    name: "joined or invited, not entitled: kicked (an invite is rescinded by a kick)",
    setup: (w) =>
      anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
        [3, "confirmed"],
      ]),
    change: async (w) => {
      await w.register(1)
      await w.synapse.joinAs(w.mx(1), await w.room("event", "ev"))
      await w.sql(`UPDATE $s."eventAttendees" SET status = 'rejected' WHERE "userId" IN (1, 2)`)
    },
    actions: (w) => ({ "event:1": [`kick ${w.mx(1)}`, `kick ${w.mx(2)}`] }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "leave", [w.mx(2)]: "leave" }),
  },
  {
    section: "§3 membership",
    name: "knocking and entitled: invited; knocking, not entitled: nothing",
    setup: (w) => anEvent(w, [[1, "confirmed"]], { visibility: "private" }),
    change: async (w) => {
      const roomId = await w.room("event", "ev")
      await w.synapse.call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.join_rules/`, {
        join_rule: "knock",
      })
      for (const n of [2, 3]) {
        await w.register(n)
        await w.synapse.call("POST", `/_matrix/client/v3/knock/${encodeURIComponent(roomId)}`, {}, w.mx(n))
      }
      await w.rows(addAttendee(w.tenant, { eventId: 1, userId: 2, status: "confirmed" }))
    },
    actions: (w) => ({ "event:1": ["set_join_rule", `invite ${w.mx(2)}`] }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(2)]: "invite", [w.mx(3)]: "knock" }),
  },
  {
    section: "§3 membership",
    name: "group member removed (row deleted), private group: kicked",
    setup: (w) =>
      aGroup(
        w,
        [
          [1, "owner"],
          [2, "member"],
        ],
        { visibility: "private" },
      ),
    change: (w) => w.rows(removeGroupMember(w.tenant, { groupId: 1, userId: 2 })),
    actions: (w) => ({ "group:1": [`kick ${w.mx(2)}`] }),
  },
  {
    section: "§3 protected",
    name: "protected users (protectedUsers, the bot) are never kicked or changed",
    policy: { protectedUsers: [/^@admin-.*/] },
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      const roomId = await w.room("event", "ev")
      const admin = await w.synapse.register(`admin-${w.tenant.id}`)
      await w.synapse.inviteAs(w.bot, roomId, admin)
      await w.synapse.joinAs(admin, roomId)
      await w.levels(roomId, { users: { [admin]: 100 } })
    },
    actions: () => ({ "event:1": [] }),
  },

  // ── OpenMeet's messy rows (docs/policy.md §3): decisions, not errors ─────────
  {
    section: "§3 messy rows",
    name: "attendee status NULL: not entitled, kicked; a host with a NULL status is still in; the room is reconciled",
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed"],
          [2, "confirmed"],
        ],
        { visibility: "private" },
      ),
    change: async (w) => {
      await w.sql(`UPDATE $s."eventAttendees" SET status = NULL WHERE "userId" = 2`)
      await w.rows(addAttendee(w.tenant, { eventId: 1, userId: 3, status: null, role: "host" }))
    },
    actions: (w) => ({ "event:1": ["set_power_levels", `invite ${w.mx(3)}`, `kick ${w.mx(2)}`] }),
    statuses: () => ({ "event:1": "drifted" }),
    after: async (w) => {
      expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "invite", [w.mx(2)]: "leave", [w.mx(3)]: "invite" })
      expect(await users(w)).toEqual({ [w.bot]: 100, [w.mx(3)]: 99 })
    },
  },
  {
    section: "§3 messy rows",
    name: "maybe is not entitled by default; eventEntitledStatuses can make it so",
    converge: false,
    policy: { eventEntitledStatuses: new Set(["confirmed", "maybe"] as const) },
    setup: async (w) => {
      await anEvent(w, [[1, "maybe"]])
      await anEvent(w, [[2, "maybe"]], {}, 2)
    },
    actions: (w) => ({
      "event:1": ["create_room", `invite ${w.mx(1)}`],
      "event:2": ["create_room", `invite ${w.mx(2)}`],
    }),
  },
  {
    section: "§3 messy rows",
    name: "group members: a NULL role is no entitlement, duplicates take the highest role, rows without user or group count for no one",
    converge: false,
    setup: async (w) => {
      await aGroup(
        w,
        [
          [1, "owner"],
          [2, "member"],
          [2, "admin"],
          [2, "guest"],
        ],
        { visibility: "private" },
      )
      await w.rows(
        Effect.all([
          addGroupMember(w.tenant, { groupId: 1, userId: 3, role: null }),
          addGroupMember(w.tenant, { groupId: 1, userId: null, role: "owner" }),
          addGroupMember(w.tenant, { groupId: null, userId: 4, role: "owner" }),
        ]),
      )
    },
    actions: (w) => ({ "group:1": ["create_room", `invite ${w.mx(1)}`, `invite ${w.mx(2)}`] }),
    after: async (w) => expect(await users(w, "group")).toEqual({ [w.bot]: 100, [w.mx(1)]: 99, [w.mx(2)]: 75 }),
  },
  {
    section: "§3 messy rows",
    name: "a group member whose row loses its role (NULL) is removed, with the row named",
    setup: (w) =>
      aGroup(
        w,
        [
          [1, "owner"],
          [2, "moderator"],
        ],
        { visibility: "private" },
      ),
    change: (w) => w.sql(`UPDATE $s."groupMembers" SET "groupRoleId" = NULL WHERE "userId" = 2`),
    actions: (w) => ({ "group:1": ["set_power_levels", `kick ${w.mx(2)}`] }),
    after: async (w) => expect(await users(w, "group")).toEqual({ [w.bot]: 100, [w.mx(1)]: 99 }),
  },
  {
    section: "§2 messy rows",
    name: "legacy visibility authenticated and a NULL visibility: invite-only rooms",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]], { visibility: "authenticated" })
      await anEvent(w, [[2, "confirmed"]], { visibility: null }, 2)
      await aGroup(w, [[3, "member"]], { visibility: "authenticated" })
    },
    actions: (w) => ({
      "event:1": ["create_room", `invite ${w.mx(1)}`],
      "event:2": ["create_room", `invite ${w.mx(2)}`],
      "group:1": ["create_room", `invite ${w.mx(3)}`],
    }),
    after: async (w) => {
      for (const [kind, slug] of [
        ["event", "ev"],
        ["event", "ev2"],
        ["group", "gr"],
      ] as const) {
        const state = await w.synapse.state(await w.room(kind, slug))
        expect(state.find((e) => e.type === "m.room.join_rules")?.content).toEqual({ join_rule: "invite" })
      }
    },
  },

  // ── §3 Visitors in public rooms (publicRoomVisitors) ────────────────────────
  {
    section: "§3 visitors",
    name: "a local user without any row joins a public event room: kept (keep), their level removed; an inactive attendee is still removed",
    setup: (w) =>
      anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
      ]),
    change: async (w) => {
      const roomId = await w.room("event", "ev")
      await w.register(9)
      await w.synapse.joinAs(w.mx(9), roomId)
      await w.levels(roomId, { users: { [w.mx(9)]: 50 } })
      await w.sql(`UPDATE $s.users SET "statusId" = 2 WHERE id = 2`)
    },
    actions: (w) => ({ "event:1": ["set_power_levels", `kick ${w.mx(2)}`] }),
    after: async (w) => {
      expect(await memberships(w)).toMatchObject({ [w.mx(9)]: "join", [w.mx(2)]: "leave" })
      expect(await users(w)).toEqual({ [w.bot]: 100 })
    },
  },
  {
    section: "§3 visitors",
    name: "publicRoomVisitors remove: the visitor is kicked",
    policy: { publicRoomVisitors: "remove" },
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.register(9)
      await w.synapse.joinAs(w.mx(9), await w.room("event", "ev"))
    },
    actions: (w) => ({ "event:1": [`kick ${w.mx(9)}`] }),
    after: async (w) => expect((await memberships(w))[w.mx(9)]).toBe("leave"),
  },
  {
    section: "§3 visitors",
    name: "group member removed (row deleted), public group: stays as a visitor (keep)",
    setup: (w) =>
      aGroup(w, [
        [1, "owner"],
        [2, "member"],
      ]),
    change: async (w) => {
      await w.register(2)
      await w.synapse.joinAs(w.mx(2), await w.room("group", "gr"))
      await w.rows(removeGroupMember(w.tenant, { groupId: 1, userId: 2 }))
    },
    actions: () => ({ "group:1": [] }),
    after: async (w) => expect((await memberships(w, "group"))[w.mx(2)]).toBe("join"),
  },

  // ── §4 Power levels ─────────────────────────────────────────────────────────
  {
    section: "§4 levels",
    name: "role change promotes; a level set in Matrix for a participant is removed; other keys kept",
    setup: (w) =>
      anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
      ]),
    change: async (w) => {
      await w.rows(setAttendee(w.tenant, { eventId: 1, userId: 1, role: "speaker" }))
      await w.levels(await w.room("event", "ev"), { users: { [w.mx(2)]: 75 }, redact: 42 })
    },
    actions: () => ({ "event:1": ["set_power_levels"] }),
    after: async (w) => {
      const levels = await w.synapse.powerLevels(await w.room("event", "ev"))
      expect(levels.users).toEqual({ [w.bot]: 100, [w.mx(1)]: 25 })
      expect(levels.redact).toBe(42)
    },
  },
  {
    section: "§4 levels",
    name: "a host raised to the bot's level keeps it (level_kept): the room is not blocked, nothing is sent for them",
    setup: (w) => anEvent(w, [[1, "confirmed", "host"]]),
    change: async (w) => w.levels(await w.room("event", "ev"), { users: { [w.mx(1)]: 100 } }),
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "in_sync" }),
    conditions: () => ({ "event:1": ["level_kept"] }),
  },
  {
    section: "§4 levels",
    name: "the bot lacks power: blocked, nothing is attempted",
    setup: (w) => anEvent(w, [[1, "confirmed"]]),
    change: async (w) => {
      await w.register(9)
      const roomId = await w.room("event", "ev")
      await w.synapse.inviteAs(w.bot, roomId, w.mx(9))
      await w.synapse.joinAs(w.mx(9), roomId)
      await w.levels(roomId, { users: { [w.mx(9)]: 100, [w.bot]: 50 } })
      await w.rows(addAttendee(w.tenant, { eventId: 1, userId: 2, status: "confirmed" }))
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "blocked" }),
    conditions: () => ({ "event:1": ["blocked"] }),
  },
  {
    section: "§4 levels",
    name: "room version 12: the bot is creator, levels up to 100, creators never in users",
    converge: false,
    policy: { eventLevels: { ...{ host: 100, moderator: 50, speaker: 25, participant: 0, guest: 0 }, owner: 100 } },
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed", "host"]])
      await roomMadeElsewhere(w, { room_version: "12" })
    },
    actions: (w) => ({ "event:1": ["set_power_levels", `invite ${w.mx(1)}`] }),
    after: async (w) => expect(await users(w)).toEqual({ [w.mx(1)]: 100 }),
  },

  // ── §5 Safety ───────────────────────────────────────────────────────────────
  {
    section: "§5 safety",
    name: "a room whose desired state failed (an event visibility added after us) is skipped, never emptied",
    setup: (w) =>
      anEvent(w, [
        [1, "confirmed"],
        [2, "confirmed"],
      ]),
    change: async (w) => {
      await w.sql(`ALTER TYPE $s."events_visibility_enum" ADD VALUE 'members'`)
      await w.sql(`UPDATE $s.events SET visibility = 'members'; UPDATE $s."eventAttendees" SET status = 'rejected'`)
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "error" }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "invite", [w.mx(2)]: "invite" }),
  },
  {
    section: "§5 safety",
    name: "a tenant that should be empty while its rooms are not: kicks held",
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed"],
          [2, "confirmed"],
        ],
        { visibility: "private" },
      ),
    change: (w) => w.sql(`DELETE FROM $s."eventAttendees"`),
    actions: (w) => ({ "event:1": [`kick ${w.mx(1)} (held)`, `kick ${w.mx(2)} (held)`] }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "invite", [w.mx(2)]: "invite" }),
    settles: false,
  },
  {
    section: "§5 safety",
    name: "kicks over the per-room cap are held; --confirm-destructive applies them",
    setup: (w) =>
      anEvent(
        w,
        [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, "confirmed"] as const),
      ),
    change: (w) => w.sql(`UPDATE $s."eventAttendees" SET status = 'rejected' WHERE "userId" > 1`),
    actions: (w) => ({
      "event:1": [2, 3, 4, 5, 6, 7, 8].map((n) => `kick ${w.mx(n)}${n > 6 ? " (held)" : ""}`),
    }),
    settles: false,
  },
  {
    section: "§5 safety",
    name: "with --confirm-destructive nothing is held",
    safety: { confirmDestructive: true, allowEmpty: false },
    setup: (w) =>
      anEvent(
        w,
        [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, "confirmed"] as const),
      ),
    change: (w) => w.sql(`UPDATE $s."eventAttendees" SET status = 'rejected' WHERE "userId" > 1`),
    actions: (w) => ({ "event:1": [2, 3, 4, 5, 6, 7, 8].map((n) => `kick ${w.mx(n)}`) }),
  },
  {
    section: "§5 undecided rows",
    name: "a role id with no role behind it costs only that user: left as found, everyone else reconciled",
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed"],
          [2, "confirmed", "moderator"],
          [4, "confirmed"],
        ],
        { visibility: "private" },
      ),
    change: async (w) => {
      await w.sql(`UPDATE $s."eventAttendees" SET "roleId" = 4242 WHERE "userId" = 2`)
      await w.rows(setAttendee(w.tenant, { eventId: 1, userId: 1, status: "rejected" }))
      await w.rows(addAttendee(w.tenant, { eventId: 1, userId: 3, status: "confirmed" }))
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(3)}`, `kick ${w.mx(1)}`] }),
    statuses: () => ({ "event:1": "drifted" }),
    conditions: () => ({ "event:1": ["undecided"] }),
    after: async (w) => {
      expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "leave", [w.mx(2)]: "invite", [w.mx(3)]: "invite" })
      expect(await users(w)).toEqual({ [w.bot]: 100, [w.mx(2)]: 50 })
    },
  },
  {
    section: "§5 undecided rows",
    name: "an attendee status added after us: that user is not kicked, not invited, keeps their level",
    setup: (w) =>
      anEvent(
        w,
        [
          [1, "confirmed"],
          [2, "confirmed", "moderator"],
        ],
        { visibility: "private" },
      ),
    change: async (w) => {
      await w.sql(`ALTER TYPE $s."eventAttendees_status_enum" ADD VALUE 'checked_in'`)
      await w.sql(`UPDATE $s."eventAttendees" SET status = 'checked_in' WHERE "userId" = 2`)
      await w.rows(addAttendee(w.tenant, { eventId: 1, userId: 3, status: "checked_in" }))
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "in_sync" }),
    conditions: () => ({ "event:1": ["undecided", "undecided"] }),
    after: async (w) => {
      expect(await memberships(w)).toEqual({ [w.bot]: "join", [w.mx(1)]: "invite", [w.mx(2)]: "invite" })
      expect(await users(w)).toEqual({ [w.bot]: 100, [w.mx(2)]: 50 })
    },
  },
]

/**
 * Catalogue scenarios for "never harm a live room": each is a path by which an earlier
 * version kicked, archived, demoted or sent what Synapse refuses, pinned against real
 * PostgreSQL and Synapse.
 */
import { isRecord } from "@openmeet-reconciler/core"
import { expect } from "vitest"
import type { Scenario, World } from "./catalogue.ts"
import { anEvent, memberships, roomMadeElsewhere } from "./scenarios.ts"

/** A room the bot makes without any alias, with these users invited. */
const bareRoom = async (w: World, invite: ReadonlyArray<string> = []): Promise<string> => {
  const created = await w.synapse.call("POST", "/_matrix/client/v3/createRoom", {
    preset: "public_chat",
    name: "Made elsewhere",
    invite,
  })
  return String(Reflect.get(Object(created), "room_id"))
}

const powerLevels = async (w: World, slug = "ev") => w.synapse.powerLevels(await w.room("event", slug))

export const harmScenarios: ReadonlyArray<Scenario> = [
  {
    section: "§2 identity",
    name: "matrixRoomId and the alias name two rooms: the key is blocked, neither room is an orphan, nobody is kicked",
    policy: { orphanPolicy: "evict" },
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await anEvent(w, [[3, "confirmed"]], {}, 2)
      // OpenMeet's two creation paths: the alias's room (people joined it by alias)…
      await roomMadeElsewhere(w)
      await w.synapse.inviteAs(w.bot, await w.room("event", "ev"), w.mx(2))
      // …and the room its listener made and wrote into "matrixRoomId".
      const other = await bareRoom(w, [w.mx(1)])
      await w.sql(`UPDATE $s.events SET "matrixRoomId" = '${other}' WHERE id = 1`)
    },
    actions: (w) => ({ "event:1": [], "event:2": ["create_room", `invite ${w.mx(3)}`] }),
    statuses: () => ({ "event:1": "blocked" }),
    conditions: () => ({ "event:1": ["blocked"] }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(2)]: "invite" }),
  },
  {
    section: "§2 identity",
    name: "two events with one matrixRoomId (a copied row): both blocked, the room left alone",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await anEvent(w, [[2, "confirmed"]], {}, 2)
      const shared = await bareRoom(w)
      await w.sql(`UPDATE $s.events SET "matrixRoomId" = '${shared}'`)
    },
    actions: () => ({ "event:1": [], "event:2": [] }),
    statuses: () => ({ "event:1": "blocked", "event:2": "blocked" }),
    conditions: () => ({ "event:1": ["blocked"], "event:2": ["blocked"] }),
  },
  {
    section: "§2 identity",
    name: "an upgraded room is followed to its successor, never reported as the alias's other room",
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await roomMadeElsewhere(w, { room_version: "9" })
    },
    change: async (w) => {
      const old = await w.room("event", "ev")
      await w.synapse.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(old)}/upgrade`, {
        new_version: "10",
      })
    },
    // The successor has the alias and the settings; its members are to be invited again.
    actions: (w) => ({ "event:1": [`invite ${w.mx(1)}`] }),
    statuses: () => ({ "event:1": "drifted" }),
    after: async (w) => expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "invite" }),
  },
  {
    section: "§5 safety",
    name: "an OpenMeet that reads empty (a failed restore) archives no orphan: held, as kicks are",
    policy: { orphanPolicy: "archive" },
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await anEvent(w, [[2, "confirmed"]], {}, 2)
    },
    change: (w) => w.sql(`DELETE FROM $s."eventAttendees"; DELETE FROM $s.events`),
    actions: () => ({ orphan: ["archive (held)"] }),
    statuses: () => ({ orphan: "orphan" }),
    after: async (w) => {
      for (const slug of ["ev", "ev2"]) expect((await powerLevels(w, slug)).events_default).toBe(0)
    },
    settles: false,
  },
  {
    section: "§2 orphans",
    name: "an orphan the reconciler archived is un-archived when its event comes back",
    policy: { orphanPolicy: "archive" },
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]])
      await anEvent(w, [[2, "confirmed"]], {}, 2)
    },
    change: async (w) => {
      await w.sql(`DELETE FROM $s."eventAttendees" WHERE "eventId" = 1; DELETE FROM $s.events WHERE id = 1`)
      await w.pass()
      expect((await powerLevels(w)).events_default).toBe(50)
      // Restored from a backup: the same row is back.
      await anEvent(w, [[1, "confirmed"]])
    },
    actions: () => ({ "event:1": ["unarchive"] }),
    after: async (w) => expect((await powerLevels(w)).events_default).toBe(0),
  },
  {
    section: "§4 levels",
    name: "a user at the bot's level who should go is never sent a kick: blocked, the rest of the room still runs",
    // Invite-only: in a public room a user with no row is a visitor, left alone anyway.
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
      // A legacy host at 100 with no row any more, a rejected attendee, a new RSVP.
      const roomId = await w.room("event", "ev")
      await w.register(3)
      await w.synapse.inviteAs(w.bot, roomId, w.mx(3))
      await w.synapse.joinAs(w.mx(3), roomId)
      await w.levels(roomId, { users: { [w.mx(3)]: 100 } })
      await w.sql(`UPDATE $s."eventAttendees" SET status = 'rejected' WHERE "userId" = 2`)
      await anEvent(w, [[4, "confirmed"]], {}, 9)
      await w.sql(
        `UPDATE $s."eventAttendees" SET "eventId" = 1 WHERE "eventId" = 9; DELETE FROM $s.events WHERE id = 9`,
      )
    },
    actions: (w) => ({ "event:1": [`invite ${w.mx(4)}`, `kick ${w.mx(2)}`] }),
    statuses: () => ({ "event:1": "blocked" }),
    conditions: () => ({ "event:1": ["blocked", "blocked"] }),
    after: async (w) =>
      expect(await memberships(w)).toMatchObject({ [w.mx(2)]: "leave", [w.mx(3)]: "join", [w.mx(4)]: "invite" }),
  },
  {
    section: "§2 settings",
    name: "a settings event the bot may not write is a condition, not a request Synapse refuses",
    setup: (w) => anEvent(w, [[1, "confirmed"]], { name: "Picnic" }),
    change: async (w) => {
      const roomId = await w.room("event", "ev")
      const current = await w.synapse.powerLevels(roomId)
      const events = isRecord(current.events) ? current.events : {}
      // The bot lowers itself below the level m.room.name needs (a room admin's doing, say).
      await w.levels(roomId, {
        events: { ...events, "m.room.power_levels": 50, "m.room.name": 100 },
        users: { [w.bot]: 90 },
      })
      await w.sql(`UPDATE $s.events SET name = 'Picnic, moved indoors' WHERE id = 1`)
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "blocked" }),
    conditions: () => ({ "event:1": ["blocked"] }),
  },
]

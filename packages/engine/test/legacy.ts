/**
 * Catalogue scenarios for OpenMeet's legacy rooms, made the way its listeners and its older
 * bot identity made them (openmeet-facts, "Matrix side today"): each gets a defined outcome
 * and a condition that says what an operator does (docs/operations.md).
 */
import { legacyRoom } from "@openmeet-reconciler/testing"
import { expect } from "vitest"
import type { Scenario, World } from "./catalogue.ts"
import { anEvent, memberships } from "./scenarios.ts"

/** OpenMeet's older bot identity for the tenant: in the appservice's namespace, not its sender. */
const olderBot = async (w: World) => w.synapse.register(`openmeet-bot-${w.tenant.id}`)

const tombstone = (w: World, from: string, to: string) =>
  w.synapse.call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(from)}/state/m.room.tombstone/`, {
    body: "This room has been replaced",
    replacement_room: to,
  })

export const legacyScenarios: ReadonlyArray<Scenario> = [
  {
    section: "§4 legacy",
    name: "OpenMeet's host at 100, the bot's own level: kept (level_kept), the room is not blocked and the rest runs",
    converge: false,
    setup: async (w) => {
      await anEvent(
        w,
        [
          [1, "confirmed", "host"],
          [2, "confirmed"],
          [3, "confirmed"],
        ],
        { visibility: "private" },
      )
      await legacyRoom(w.synapse, w.bot, {
        alias: w.alias("event", "ev"),
        name: "Event 1",
        joinRule: "invite",
        users: { [w.mx(1)]: 100 },
        invite: [w.mx(1), w.mx(2)],
      })
    },
    // Quick-RSVP attendees were never invited by OpenMeet.
    actions: (w) => ({ "event:1": [`invite ${w.mx(3)}`] }),
    statuses: () => ({ "event:1": "drifted" }),
    conditions: () => ({ "event:1": ["level_kept"] }),
    after: async (w) => {
      expect((await w.synapse.powerLevels(await w.room("event", "ev"))).users).toMatchObject({ [w.mx(1)]: 100 })
      expect(await memberships(w)).toMatchObject({ [w.mx(3)]: "invite" })
    },
  },
  {
    section: "§4 legacy",
    name: "a former host still at 100 who is now a participant: blocked 'cannot demote', nothing sent for them",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]], { visibility: "private" })
      await legacyRoom(w.synapse, w.bot, {
        alias: w.alias("event", "ev"),
        name: "Event 1",
        joinRule: "invite",
        users: { [w.mx(1)]: 100 },
        invite: [w.mx(1)],
      })
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "blocked" }),
    conditions: () => ({ "event:1": ["blocked"] }),
  },
  {
    section: "§2 legacy",
    name: "a room OpenMeet's older bot made, our sender not in it: blocked, adopt named (make_room_admin)",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed", "host"]], { visibility: "private" })
      const older = await olderBot(w)
      await legacyRoom(w.synapse, w.bot, {
        alias: w.alias("event", "ev"),
        name: "Event 1",
        joinRule: "invite",
        creator: older,
        users: { [w.mx(1)]: 100 },
        invite: [w.mx(1)],
      })
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "blocked" }),
    conditions: () => ({ "event:1": ["blocked"] }),
    after: async (w) => expect(await w.synapse.joinedRooms()).not.toContain(await w.room("event", "ev")),
  },
  {
    section: "§2 legacy",
    name: "our sender joined without power, the older bot at 100: bot lacks power, adopt would fix it",
    converge: false,
    setup: async (w) => {
      await anEvent(w, [[1, "confirmed"]], { visibility: "private" })
      const older = await olderBot(w)
      const roomId = await legacyRoom(w.synapse, w.bot, {
        alias: w.alias("event", "ev"),
        name: "Event 1",
        joinRule: "invite",
        creator: older,
        invite: [w.bot, w.mx(1)],
      })
      await w.synapse.joinAs(w.bot, roomId)
    },
    actions: () => ({ "event:1": [] }),
    statuses: () => ({ "event:1": "blocked" }),
    // It may neither write power levels (100) nor kick (50).
    conditions: () => ({ "event:1": ["blocked", "blocked"] }),
  },
  {
    section: "§2 legacy",
    name: "an upgrade made by hand (a tombstone) leaves the alias on the old room: the successor is managed, the alias moved",
    setup: (w) => anEvent(w, [[1, "confirmed"]], { visibility: "private", name: "Picnic" }),
    change: async (w) => {
      const old = await w.room("event", "ev")
      const successor = await legacyRoom(w.synapse, w.bot, { name: "Picnic", joinRule: "invite" })
      await tombstone(w, old, successor)
    },
    actions: (w) => ({ "event:1": ["add_alias", "set_canonical_alias", `invite ${w.mx(1)}`] }),
    statuses: () => ({ "event:1": "drifted" }),
    conditions: () => ({ "event:1": [] }),
    after: async (w) => {
      const successor = await w.room("event", "ev")
      const state = await w.synapse.state(successor)
      expect(state.some((e) => e.type === "m.room.tombstone")).toBe(false)
      expect(state.find((e) => e.type === "m.room.canonical_alias")?.content).toMatchObject({
        alias: w.alias("event", "ev"),
      })
      expect(await memberships(w)).toMatchObject({ [w.mx(1)]: "invite" })
    },
  },
]

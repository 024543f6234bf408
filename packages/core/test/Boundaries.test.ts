/**
 * Boundaries and texts that mutation testing found unchecked (docs/reliability.md): the
 * bot's power at exactly the level it needs, power-levels events that leave out or null
 * their named levels, the problems an unreadable event is described by, and the reasons
 * invitees read in their invites.
 */
import { describe, expect, it } from "vitest"
import {
  botLacksPower,
  botMaySend,
  botPowerNeeds,
  invalidLevels,
  planMembership,
  planPowerLevels,
} from "../src/index.ts"
import { actualRoom, bot, context, defaultPowerLevels, desiredRoom, u } from "./fixtures.ts"

/** A room whose power-levels event is `content` exactly. */
const roomWith = (content: Readonly<Record<string, unknown>>) => actualRoom([], {}, { powerLevels: content })

describe("the bot's power, at the boundary", () => {
  it("names each level it needs with what it has", () => {
    const room = roomWith({ ...defaultPowerLevels({}), users: { [bot]: 60 }, kick: 70, invite: 10 })
    expect(botPowerNeeds(room, context())).toEqual([
      { what: "m.room.power_levels", level: 100, has: 60 },
      { what: "kick", level: 70, has: 60 },
      { what: "invite", level: 10, has: 60 },
    ])
  })

  it("lacks power only below a level it needs: exactly at every level is enough, above is too", () => {
    const at = (level: number) =>
      roomWith({
        ...defaultPowerLevels({}),
        users: { [bot]: level },
        kick: 40,
        invite: 40,
        events: { "m.room.power_levels": 40 },
      })
    expect(botLacksPower(at(40), context())).toBe(false)
    expect(botLacksPower(at(41), context())).toBe(false)
    expect(botLacksPower(at(39), context())).toBe(true)
  })

  it("may send a state event at exactly its level, not one level below", () => {
    const room = roomWith({ ...defaultPowerLevels({}), users: { [bot]: 50 } })
    expect(botMaySend(room, context(), "m.room.name")).toBe(true)
    expect(botMaySend(room, context(), "m.room.power_levels")).toBe(false)
    const below = roomWith({ ...defaultPowerLevels({}), users: { [bot]: 49 } })
    expect(botMaySend(below, context(), "m.room.name")).toBe(false)
  })
})

describe("power-levels events read as Synapse reads them", () => {
  it("named levels left out or null are Matrix's defaults, not problems", () => {
    expect(invalidLevels({ users: { [bot]: 100 } })).toEqual([])
    expect(invalidLevels({ users: { [bot]: 100 }, kick: null, invite: null, users_default: null })).toEqual([])
    // Absent, the kick level is 50 and the power-levels event's is state_default (50).
    const sparse = roomWith({ users: { [bot]: 50 } })
    expect(botPowerNeeds(sparse, context()).map((need) => need.level)).toEqual([50, 50, 0])
    expect(botLacksPower(sparse, context())).toBe(false)
  })

  it("describes each entry that is not a level by where it is and what it holds", () => {
    expect(
      invalidLevels({
        users_default: "x",
        events_default: [],
        state_default: {},
        ban: "1.5",
        kick: "ten",
        redact: "r",
        invite: "i",
        users: { [bot]: 100, [u("odd")]: "high" },
        events: { "m.room.name": "n" },
      }),
    ).toEqual([
      'power level users_default is "x", not a level',
      "power level events_default is [], not a level",
      "power level state_default is {}, not a level",
      'power level ban is "1.5", not a level',
      'power level kick is "ten", not a level',
      'power level redact is "r", not a level',
      'power level invite is "i", not a level',
      `power level of ${u("odd")} is "high", not a level`,
      'power level of m.room.name is "n", not a level',
    ])
  })

  it("says what a section that is not a map is", () => {
    expect(invalidLevels({ users: [bot], events: null })).toEqual([
      'power levels "users" is a list, not a map',
      'power levels "events" is null, not a map',
    ])
    expect(invalidLevels({ users: 7 })).toEqual(['power levels "users" is number, not a map'])
  })
})

describe("the reasons invitees read", () => {
  const entitled = desiredRoom([[u("ann"), 0, "attendee status confirmed"]])
  const reasonFor = (membership: "knock" | "leave" | "invite", sender: string, policy = {}) =>
    planMembership(actualRoom([[u("ann"), membership, sender]]), entitled, context(policy)).actions.map((a) => [
      a.type,
      a.reason,
    ])

  it("say why they are asked in again", () => {
    expect(reasonFor("knock", u("ann"))).toEqual([["invite", "attendee status confirmed; they knocked"]])
    expect(reasonFor("leave", u("ann"), { respectLeave: false })).toEqual([
      ["invite", "attendee status confirmed; they had left"],
    ])
    expect(reasonFor("leave", bot)).toEqual([
      ["invite", "attendee status confirmed; entitled again after the bot removed them"],
    ])
    expect(reasonFor("leave", u("mod"), { respectKicks: false })).toEqual([
      ["invite", `attendee status confirmed; kicked by ${u("mod")}`],
    ])
    expect(reasonFor("invite", bot, { membershipMode: "join" })).toEqual([
      ["join", "attendee status confirmed; invited, not joined yet"],
    ])
  })
})

describe("lifting an archive", () => {
  const archivedRoom = roomWith({ ...defaultPowerLevels({}), events_default: 50 })
  const openRoom = roomWith(defaultPowerLevels({}))

  it("only of an archived room OpenMeet wants open, and only when the reconciler archived it", () => {
    const open = desiredRoom([])
    const closed = desiredRoom([], { archived: true })
    const ours = { archivedByReconciler: true }
    expect(planPowerLevels(archivedRoom, open, context(), ours).unarchiving).toBe(true)
    expect(planPowerLevels(archivedRoom, open, context(), { archivedByReconciler: false }).unarchiving).toBe(false)
    // Without facts, nobody is known to have archived it: the archive stays.
    expect(planPowerLevels(archivedRoom, open, context()).unarchiving).toBe(false)
    expect(planPowerLevels(archivedRoom, closed, context(), ours).unarchiving).toBe(false)
    expect(planPowerLevels(openRoom, open, context(), ours).unarchiving).toBe(false)
  })
})

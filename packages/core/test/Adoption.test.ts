import { describe, expect, it } from "vitest"
import type { DesiredRoom } from "../src/index.ts"
import { adoptionManages, adoptionOf, levelOf } from "../src/index.ts"
import { actualRoom, bot, context, defaultPowerLevels, desiredRoom, plan, u } from "./fixtures.ts"

const desired = (room: DesiredRoom) => ({ _tag: "Desired" as const, room })

/** What Synapse's make_room_admin would do, as its source computes it (docs/operations.md, reconciler adopt). */
describe("adopting a room (Synapse's make_room_admin for the bot)", () => {
  it("lends the bot the level of the most powerful joined member of its server, and joins it", () => {
    const room = actualRoom(
      [
        [u("host"), "join"],
        [u("gone"), "leave"],
        ["@remote:elsewhere.org", "join"],
      ],
      {},
      {
        // OpenMeet's older bot made the room; ours is not in it at all.
        members: new Map([
          [u("host"), { userId: u("host"), membership: "join", sender: u("host") }],
          [u("gone"), { userId: u("gone"), membership: "leave", sender: u("gone") }],
          ["@remote:elsewhere.org", { userId: "@remote:elsewhere.org", membership: "join", sender: "x" }],
        ]),
        powerLevels: {
          ...defaultPowerLevels({}),
          users: { [u("gone")]: 100, [u("host")]: "75", "@remote:elsewhere.org": 100 },
        },
      },
    )
    const adoption = adoptionOf(room, bot)
    // The remote user and the one who left cannot lend anything: Synapse picks local, joined members.
    expect(adoption).toMatchObject({ grantor: u("host"), levelNow: 0, levelAfter: 75 })
    expect(adoption.room.members.get(bot)?.membership).toBe("join")
    expect(levelOf(adoption.room, bot)).toBe(75)
    // 75 is not enough to write power levels (100): adopting alone would not let the bot manage it.
    expect(adoptionManages(adoption, context())).toBe(false)
  })

  it("fails when no joined member of the bot's server holds power; a version 12 creator lends 100", () => {
    const empty = actualRoom([], {}, { powerLevels: { ...defaultPowerLevels({}), users: {} } })
    expect(adoptionOf(empty, bot).grantor).toBeUndefined()
    const v12 = actualRoom([[u("creator"), "join"]], {}, { roomVersion: "12", creators: [u("creator")] })
    const withoutBot = { ...v12, powerLevels: { ...v12.powerLevels, users: {} } }
    expect(adoptionOf(withoutBot, bot)).toMatchObject({ grantor: u("creator"), levelNow: 0, levelAfter: 100 })
  })

  it("hints adopt only where it would let the bot act: a moderator above the bot yes, the owner above both no", () => {
    const room = actualRoom(
      [
        [u("owner"), "join"],
        [u("mod"), "join"],
      ],
      { [bot]: 60, [u("owner")]: 100, [u("mod")]: 75 },
    )
    const levels = { ...room.powerLevels, events: { "m.room.power_levels": 50 } }
    const result = plan(
      desired(
        desiredRoom([
          [u("mod"), 0],
          [u("owner"), 99],
        ]),
      ),
      { ...room, powerLevels: levels },
      context(),
    )
    expect(result.status).toBe("blocked")
    expect(result.conditions.map((c) => [c.type, c.adopt, c.message.slice(0, 40)])).toEqual([
      // The owner keeps 100: make_room_admin gives the bot 100 at most, never more than the owner.
      ["level_kept", undefined, `${u("owner")} keeps level 100 (thei`],
      ["blocked", "!room:example.org", `cannot demote ${u("mod")}: their le`],
    ])
    expect(result.conditions[1]?.message).toContain(`make_room_admin: ${u("owner")} gives the bot 100`)
  })
})

describe("adopting: what mutation testing found unpinned (docs/reliability.md)", () => {
  it("lends nothing through a creator of another server: a failed adoption leaves the room and the bot's level as found", () => {
    const remote = "@creator:elsewhere.org"
    const v12 = actualRoom([[remote, "join"]], {}, { roomVersion: "12", creators: [remote] })
    const room = { ...v12, powerLevels: { ...v12.powerLevels, users: {} } }
    const adoption = adoptionOf(room, bot)
    expect(adoption).toEqual({ grantor: undefined, levelNow: 0, levelAfter: 0, room })
    expect(adoption.room).toBe(room)
  })

  it("is no fix where it would not raise the bot, even where the bot holds every level already", () => {
    // The bot is the most powerful joined member of its server: make_room_admin lends it its own 100.
    const adoption = adoptionOf(actualRoom([]), bot)
    expect(adoption).toMatchObject({ grantor: bot, levelNow: 100, levelAfter: 100 })
    expect(adoptionManages(adoption, context())).toBe(false)
  })

  it("says who can help where adopting cannot: nobody of the bot's server with power, or not enough of it", () => {
    const lacking = (users: Readonly<Record<string, number>>) =>
      plan(
        desired(desiredRoom([])),
        actualRoom([[u("host"), "join"]], {}, { powerLevels: { ...defaultPowerLevels({}), users } }),
        context(),
      ).conditions
    expect(lacking({ "@remote:elsewhere.org": 100 }).map((c) => [c.type, c.adopt, c.message])).toEqual([
      [
        "blocked",
        undefined,
        "bot lacks power: m.room.power_levels needs 100, the bot has 0; make_room_admin cannot help: no member of example.org with power is in the room; a room admin of another server must raise the bot (docs/operations.md)",
      ],
      [
        "blocked",
        undefined,
        "bot lacks power: kick needs 50, the bot has 0; make_room_admin cannot help: no member of example.org with power is in the room; a room admin of another server must raise the bot (docs/operations.md)",
      ],
    ])
    expect(lacking({ [bot]: 60, [u("host")]: 75 }).map((c) => c.message)).toEqual([
      "bot lacks power: m.room.power_levels needs 100, the bot has 60; make_room_admin cannot give the bot more than 75: a room admin must lower what these need (docs/operations.md)",
    ])
  })
})

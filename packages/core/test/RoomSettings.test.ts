/** Room settings and aliases (policy.md §2), as mutation testing found them unpinned (docs/reliability.md). */
import { describe, expect, it } from "vitest"
import type { ActualRoom, RoomFacts } from "../src/index.ts"
import { actualRoom, alias, bot, context, defaultPowerLevels, desiredRoom, plan, types } from "./fixtures.ts"

const planned = (actual: ActualRoom, facts: RoomFacts = {}) =>
  plan({ _tag: "Desired", room: desiredRoom([]) }, actual, context(), facts)

/** A room whose bot (at 50) may write power levels; `levels` overrides the rest of the event. */
const botAt50 = (levels: Readonly<Record<string, unknown>>, overrides: Partial<ActualRoom> = {}) =>
  actualRoom(
    [],
    {},
    {
      powerLevels: {
        ...defaultPowerLevels({}),
        users: { [bot]: 50 },
        events: { "m.room.power_levels": 50 },
        ...levels,
      },
      ...overrides,
    },
  )

const cannotWrite = (eventType: string, skipped: string) => ({
  type: "blocked",
  message: `cannot write ${eventType}: the room requires a higher level than the bot's (${skipped} skipped)`,
})

describe("settings the bot may not write", () => {
  const drifted: Partial<ActualRoom> = {
    name: "Old",
    joinRule: "invite",
    historyVisibility: "joined",
    guestAccess: "can_join",
    canonicalAlias: "#old:example.org",
  }
  const settings = [
    ["m.room.name", "set_name"],
    ["m.room.join_rules", "set_join_rule"],
    ["m.room.history_visibility", "set_history_visibility"],
    ["m.room.guest_access", "set_guest_access"],
    ["m.room.canonical_alias", "set_canonical_alias"],
  ] as const

  it("each is skipped as a condition naming its own state event, the others still written", () => {
    for (const [eventType, skipped] of settings) {
      const result = planned(botAt50({ events: { "m.room.power_levels": 50, [eventType]: 51 } }, drifted))
      expect(types(result.actions)).toEqual(settings.map(([, type]) => type).filter((type) => type !== skipped))
      expect(result.conditions).toEqual([cannotWrite(eventType, skipped)])
    }
  })

  it("adding the alias to the directory is no state event: no level is needed for it", () => {
    const result = planned(botAt50({ state_default: 100 }, { canonicalAlias: "#old:example.org" }), {
      aliasTarget: null,
    })
    expect(types(result.actions)).toEqual(["add_alias"])
    expect(result.conditions).toEqual([cannotWrite("m.room.canonical_alias", "set_canonical_alias")])
  })
})

describe("the canonical alias and its alt aliases", () => {
  const canonical = (canonicalAlias: string | undefined, altAliases: ReadonlyArray<string>, facts: RoomFacts = {}) =>
    planned(actualRoom([], {}, { canonicalAlias, altAliases }), facts).actions

  it("the desired alias leaves the alt aliases as it becomes canonical; the old one joins them once", () => {
    expect(canonical("#old:example.org", [alias, "#older:example.org"])).toEqual([
      expect.objectContaining({ type: "set_canonical_alias", altAliases: ["#older:example.org", "#old:example.org"] }),
    ])
    expect(canonical("#old:example.org", ["#old:example.org"])).toEqual([
      expect.objectContaining({ type: "set_canonical_alias", altAliases: ["#old:example.org"] }),
    ])
    expect(canonical(undefined, ["#older:example.org"])).toEqual([
      expect.objectContaining({ type: "set_canonical_alias", from: null, altAliases: ["#older:example.org"] }),
    ])
  })

  it("an alias the directory gives this very room is no other room's: it is made canonical", () => {
    expect(canonical("#old:example.org", [], { aliasTarget: "!room:example.org" })).toEqual([
      expect.objectContaining({ type: "set_canonical_alias", from: "#old:example.org", to: alias }),
    ])
  })

  it("nothing is written where the alias is canonical already and on no replaced room, whatever the directory says", () => {
    for (const aliasTarget of [null, "!other:example.org", undefined]) {
      const result = planned(actualRoom([]), { aliasTarget })
      expect([result.actions, result.conditions]).toEqual([[], []])
    }
  })
})
